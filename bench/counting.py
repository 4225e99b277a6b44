"""What the benchmark's fake services share: counters per route and per new TCP
connection, the largest number of requests in flight at once, and an HTTP/1.1
keep-alive handler base that counts. stdlib only."""
import collections
import json
import threading
from http.server import BaseHTTPRequestHandler

from http_body import read_body


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.inflight = 0   # not reset: a request may be in flight across a reset
        self.reset()

    def reset(self):
        with self.lock:
            self.connections = 0
            self.requests = 0
            self.routes = collections.Counter()
            self.statuses = collections.Counter()
            self.signed_in = 0
            self.signed_out = 0
            self.max_inflight = self.inflight

    def enter(self):
        with self.lock:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)

    def leave(self):
        with self.lock:
            self.inflight -= 1

    def snapshot(self):
        with self.lock:
            return {
                "connections": self.connections,
                "requests": self.requests,
                "routes": dict(self.routes),
                "statuses": {str(k): v for k, v in self.statuses.items()},
                "signed_in": self.signed_in,
                "signed_out": self.signed_out,
                "max_inflight": self.max_inflight,
                "inflight": self.inflight,
            }


class CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    counters: Counters = None

    def setup(self):
        super().setup()
        with self.counters.lock:
            self.counters.connections += 1

    def log_message(self, *args):
        pass

    def read_body(self):
        return read_body(self)

    def answer(self, status, body=b"", headers=(), route="other"):
        with self.counters.lock:
            self.counters.requests += 1
            self.counters.routes[route] += 1
            self.counters.statuses[status] += 1
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status not in (204, 304):
            self.wfile.write(body)


def json_body(obj):
    return json.dumps(obj).encode()
