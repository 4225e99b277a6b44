"""A stand-in for Step Functions' StartExecution, the one call workflow mode's
webhook makes (AWS_ENDPOINT_URL_SFN points here). Served by bench/fakes.py.

The AWS JSON 1.0 protocol as the SDK speaks it: POST / with
`X-Amz-Target: AWSStepFunctions.StartExecution`, a SigV4 `Authorization` header and
`{"stateMachineArn", "name", "input"}`; answers 200 `{"executionArn", "startDate"}`
(epoch seconds, as Step Functions and moto do) or an error `{"__type", "message"}`.

HTTP/1.1 over raw sockets, a thread per kept-alive connection, no header parsing
beyond what it needs: http.server costs a few hundred µs per request on the shared
machine, as much as the function's own StartExecution, and the figures are meant to
be the function's (moto_server takes ~5 ms per StartExecution and closes every
connection; run.py measures it too in the full run). Counts the inputs that carry a
secret (the PAT secret or the webhook key): there must be none; and the time its
Python spends per request (from the whole request received to the answer ready).
"""
import json
import socket
import threading
import time
import uuid

from counting import Counters

AMZ_JSON = "application/x-amz-json-1.0"
TARGET = "AWSStepFunctions.StartExecution"
REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden"}


class StepFunctions:
    def __init__(self, forbidden=()):
        self.counters = Counters()
        self.forbidden = tuple(forbidden)
        self.leaks = 0
        self.busy = 0.0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

    def serve_forever(self):
        while True:
            conn, _ = self.listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.counters.lock:
                self.counters.connections += 1
            threading.Thread(target=self.connection, args=(conn,), daemon=True).start()

    def reset(self):
        self.counters.reset()
        with self.counters.lock:
            self.leaks = 0
            self.busy = 0.0

    def snapshot(self):
        with self.counters.lock:
            leaks, busy = self.leaks, self.busy
        return dict(self.counters.snapshot(), leaks=leaks, busy_seconds=busy)

    def connection(self, conn):
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                started = time.perf_counter()
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    conn.sendall(self.response(400, "SerializationException", "chunked bodies are not expected"))
                    return
                length = int(headers.get("content-length") or 0)
                while len(buf) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:length], buf[length:]
                answer = self.answer(lines[0], headers, body)
                with self.counters.lock:
                    self.busy += time.perf_counter() - started
                conn.sendall(answer)

    def response(self, status, kind, payload):
        """The bytes of an answer; `kind` is the route counted (an error's __type)."""
        if status != 200:
            payload = {"__type": kind, "message": payload}
        body = json.dumps(payload).encode()
        with self.counters.lock:
            self.counters.requests += 1
            self.counters.routes[kind] += 1
            self.counters.statuses[status] += 1
        head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: {AMZ_JSON}\r\n"
                f"x-amzn-RequestId: {uuid.uuid4()}\r\nContent-Length: {len(body)}\r\n\r\n")
        return head.encode() + body

    def answer(self, request_line, headers, body):
        target = headers.get("x-amz-target", "")
        if not request_line.startswith("POST ") or target != TARGET:
            return self.response(400, "UnknownOperationException", f"unknown operation {target!r}")
        if not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return self.response(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        try:
            request = json.loads(body)
            arn, name = request["stateMachineArn"], request.get("name") or str(uuid.uuid4())
            data = request.get("input", "{}")
            json.loads(data)
        except (ValueError, KeyError, TypeError):
            return self.response(400, "InvalidExecutionInput", "the request or its input is not JSON")
        if not arn.startswith("arn:aws:states:") or ":stateMachine:" not in arn:
            return self.response(400, "InvalidArn", f"Invalid Arn: '{arn}'")
        if any(secret in data for secret in self.forbidden):
            with self.counters.lock:
                self.leaks += 1
        return self.response(200, "StartExecution", {
            "executionArn": arn.replace(":stateMachine:", ":execution:", 1) + ":" + name,
            "startDate": time.time()})
