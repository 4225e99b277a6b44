"""A stand-in for Step Functions' StartExecution, the one call workflow mode's
webhook makes (AWS_ENDPOINT_URL_SFN points here). Served by bench/fakes.py.

The AWS JSON 1.0 protocol as the SDK speaks it: POST / with
`X-Amz-Target: AWSStepFunctions.StartExecution`, a SigV4 `Authorization` header and
`{"stateMachineArn", "name", "input"}`; answers 200 `{"executionArn", "startDate"}`
(epoch seconds, as Step Functions and moto do) or an error `{"__type", "message"}`.
It keeps connections alive and answers at once: the figures are the function's,
not an emulator's (moto_server takes ~5 ms per StartExecution and closes every
connection; run.py measures it too in the full run). Counts the inputs that carry
a secret (the PAT secret or the webhook key): there must be none.
"""
import json
import time
import uuid
from http.server import ThreadingHTTPServer

from counting import Counters, CountingHandler, json_body

AMZ_JSON = "application/x-amz-json-1.0"
TARGET = "AWSStepFunctions.StartExecution"


class StepFunctions:
    def __init__(self, forbidden=()):
        self.counters = Counters()
        self.forbidden = tuple(forbidden)
        self.leaks = 0
        fake = self

        class Handler(CountingHandler):
            counters = fake.counters

            def do_POST(self):
                fake.route(self, self.read_body())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def reset(self):
        self.counters.reset()
        self.leaks = 0

    def snapshot(self):
        return dict(self.counters.snapshot(), leaks=self.leaks)

    def route(self, h, body):
        target = h.headers.get("X-Amz-Target", "")

        def error(status, kind, message):
            h.answer(status, json_body({"__type": kind, "message": message}),
                     [("Content-Type", AMZ_JSON)], "error")

        if target != TARGET:
            return error(400, "UnknownOperationException", f"unknown operation {target!r}")
        if not h.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        try:
            request = json.loads(body)
            arn, name = request["stateMachineArn"], request.get("name") or str(uuid.uuid4())
            data = request.get("input", "{}")
            json.loads(data)
        except (ValueError, KeyError, TypeError):
            return error(400, "InvalidExecutionInput", "the request or its input is not JSON")
        if not arn.startswith("arn:aws:states:") or ":stateMachine:" not in arn:
            return error(400, "InvalidArn", f"Invalid Arn: '{arn}'")
        if any(secret in data for secret in self.forbidden):
            self.leaks += 1
        answer = {"executionArn": arn.replace(":stateMachine:", ":execution:", 1) + ":" + name,
                  "startDate": time.time()}
        h.answer(200, json_body(answer), [("Content-Type", AMZ_JSON), ("x-amzn-RequestId", str(uuid.uuid4()))],
                 "StartExecution")
