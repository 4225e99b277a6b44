"""A minimal AWS Lambda Runtime API emulator on 127.0.0.1, for the benchmark.

The four endpoints a runtime uses (2018-06-01 API):

    GET  /2018-06-01/runtime/invocation/next              blocks until an event is queued
    POST /2018-06-01/runtime/invocation/{id}/response     the function's answer
    POST /2018-06-01/runtime/invocation/{id}/error        the function's error
    POST /2018-06-01/runtime/init/error                   init failed

`next` answers with the event and the headers Lambda sets
(Lambda-Runtime-Aws-Request-Id, -Deadline-Ms = now + 15 s unless told otherwise, -Invoked-Function-Arn,
-Trace-Id). The time of the first `next` is recorded: init time = process spawn to
first `next`. `invoke()` queues one event and waits for its answer; the latency it
returns runs from queuing the event to receiving the answer's POST (body read).

stdlib only. One emulator serves one runtime process. tests/sfn/moto_sfn.py runs
one per registered function, so Step Functions tasks in moto reach a real binary.
"""
import json
import queue
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from http_body import read_body

PREFIX = "/2018-06-01/runtime"
DEADLINE_MS = 15_000


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A runtime stopped by the harness drops its connection mid-request: expected.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Invocation:
    __slots__ = ("request_id", "payload", "queued", "answered", "kind", "body", "error_type", "done")

    def __init__(self, payload: bytes):
        self.request_id = str(uuid.uuid4())
        self.payload = payload
        self.queued = 0.0
        self.answered = 0.0
        self.kind = None  # "response" | "error" | "init_error"
        self.body = b""
        self.error_type = None
        self.done = threading.Event()


class RuntimeAPI:
    def __init__(self, function_name="dbt-tableau-refresh", deadline_ms=DEADLINE_MS):
        self.function_name = function_name
        self.deadline_ms = deadline_ms
        self.arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.pending = queue.Queue()
        self.by_id = {}
        self.lock = threading.Lock()
        self.first_next = None  # time.perf_counter() of the first GET next
        self.first_next_event = threading.Event()
        self.init_error = None
        self.next_calls = 0
        self.unexpected = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _answer(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def _read_body(self):
                return read_body(self)

            def do_GET(self):
                if self.path != PREFIX + "/invocation/next":
                    api.unexpected.append(("GET", self.path))
                    return self._answer(404, b'{"errorMessage":"not found"}')
                now = time.perf_counter()
                with api.lock:
                    api.next_calls += 1
                    if api.first_next is None:
                        api.first_next = now
                        api.first_next_event.set()
                inv = api.pending.get()
                if inv is None:  # shutting down
                    return self._answer(410, b"")
                deadline = int(time.time() * 1000) + api.deadline_ms
                trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
                self._answer(200, inv.payload, [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    ("Lambda-Runtime-Invoked-Function-Arn", api.arn),
                    ("Lambda-Runtime-Trace-Id", trace),
                ])

            def do_POST(self):
                body = self._read_body()
                now = time.perf_counter()
                parts = self.path[len(PREFIX):].strip("/").split("/") if self.path.startswith(PREFIX) else []
                if parts == ["init", "error"]:
                    api.init_error = body
                    with api.lock:
                        waiting = list(api.by_id.values())
                    for inv in waiting:
                        inv.kind, inv.body, inv.answered = "init_error", body, now
                        inv.done.set()
                    return self._answer(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    with api.lock:
                        inv = api.by_id.pop(parts[1], None)
                    if inv is None:
                        return self._answer(400, b'{"errorMessage":"unknown request id"}')
                    inv.answered, inv.kind, inv.body = now, parts[2], body
                    inv.error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                    inv.done.set()
                    return self._answer(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
                api.unexpected.append(("POST", self.path))
                return self._answer(404, b'{"errorMessage":"not found"}')

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        # A short poll: close() waits for the loop to notice, and the benchmark
        # closes one emulator per container it starts (0.5 s each by default).
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def wait_ready(self, timeout, alive=lambda: True):
        """Waits for the first `next`; returns its perf_counter time or None."""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            if self.first_next_event.wait(0.005):
                return self.first_next
            if self.init_error is not None or not alive():
                return None
        return None

    def invoke(self, event, timeout=20.0, alive=lambda: True):
        """Queues `event` (dict or bytes) and waits for its answer.

        Returns (latency_seconds, kind, body_bytes); kind is None on a timeout or a
        dead runtime."""
        payload = event if isinstance(event, bytes) else json.dumps(event).encode()
        inv = Invocation(payload)
        with self.lock:
            self.by_id[inv.request_id] = inv
        inv.queued = time.perf_counter()
        self.pending.put(inv)
        end = inv.queued + timeout
        while not inv.done.wait(0.05):
            if time.perf_counter() > end or not alive():
                with self.lock:
                    self.by_id.pop(inv.request_id, None)
                return None, None, b""
        return inv.answered - inv.queued, inv.kind, inv.body

    def close(self):
        self.pending.put(None)
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    # Stand-alone: serve and print the address; queue events given as files.
    import sys
    api = RuntimeAPI()
    print(f"AWS_LAMBDA_RUNTIME_API={api.address}", flush=True)
    for path in sys.argv[1:]:
        latency, kind, body = api.invoke(open(path, "rb").read(), timeout=60)
        print(f"{path}: {kind} in {latency and latency * 1000:.2f} ms: {body.decode(errors='replace')}", flush=True)
    if not sys.argv[1:]:
        threading.Event().wait()
