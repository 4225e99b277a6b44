"""The benchmark's fakes, in one process of their own (so their threads don't share
the runner's GIL): a fake Tableau REST API, a counting HTTP proxy in front of
moto_server (Secrets Manager), a Step Functions StartExecution stand-in
(bench/fake_sfn.py), and a control endpoint.

    python3 bench/fakes.py --moto http://127.0.0.1:PORT
    -> prints one JSON line {"tableau": port, "secrets": port, "sfn": port, "control": port}

Fake Tableau answers the shapes the Rust client uses (JSON, `Accept:
application/json`), checks `X-Tableau-Auth` and the site id, keeps HTTP/1.1
connections alive, and counts new TCP connections, requests per route and the
largest number of requests in flight at once (from arrival to answer; a request
delay, when set, is inside that span):

    GET  /api/{v}/serverinfo                 no sign-in; restApiVersion 3.23
    POST /api/{v}/auth/signin                PAT credentials -> token, site id, user id
    POST /api/{v}/auth/signout               204
    GET  /api/{v}/sites/{site}/workbooks     filter=name:eq:N[,projectName:eq:P]; one match
    GET  /api/{v}/sites/{site}/datasources   (a name starting with "missing" matches nothing)
    POST /api/{v}/sites/{site}/{workbooks|datasources}/{id}/refresh
                                             202 job, after --refresh-delay-ms
    GET  /api/{v}/sites/{site}/jobs/{id}     a finished job

Control (its own port, so reading the counters doesn't move them):

    GET  /stats                              {"tableau": {...}, "secrets": {...}, "sfn": {...}}
    POST /reset                              counters (and the in-flight maximum) to zero
    POST /config {"refresh_delay_ms": 50, "request_delay_ms": 0}
                                             refresh_delay_ms delays refresh POSTs only,
                                             request_delay_ms every Tableau request;
                                             an absent key is 0

stdlib only.
"""
import argparse
import http.client
import json
import re
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from counting import Counters, CountingHandler, json_body
from fake_sfn import StepFunctions

WEBHOOK_KEY = "bench-webhook-key"
PAT_NAME = "bench-pat"
PAT_SECRET = "bench-pat-secret"
SITE_CONTENT_URL = "bench"
SITE_ID = "a946d998-2ead-4894-bb50-1054a91dcab3"
USER_ID = "9f9e9d9c-8b8a-4f7e-9d6c-5b4a3f2e1d0c"
PROJECT = {"id": "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b", "name": "Bench"}


class Tableau:
    def __init__(self):
        self.counters = Counters()
        self.refresh_delay = 0.0
        self.request_delay = 0.0
        self.tokens = set()
        self.tokens_lock = threading.Lock()
        fake = self

        class Handler(CountingHandler):
            counters = fake.counters

            def do_GET(self):
                self.read_body()
                fake.handle(self, "GET", b"")

            def do_POST(self):
                fake.handle(self, "POST", self.read_body())

            def do_PUT(self):
                fake.handle(self, "PUT", self.read_body())

            def do_DELETE(self):
                fake.handle(self, "DELETE", self.read_body())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def error(self, h, status, code, summary, detail, route):
        h.answer(status, json_body({"error": {"summary": summary, "detail": detail, "code": code}}),
                 [("Content-Type", "application/json")], route)

    def handle(self, h, method, body):
        """One request, counted in flight from its arrival to its answer."""
        self.counters.enter()
        try:
            if self.request_delay:
                time.sleep(self.request_delay)
            self.route(h, method, body)
        finally:
            self.counters.leave()

    def authorized(self, h):
        with self.tokens_lock:
            return h.headers.get("X-Tableau-Auth") in self.tokens

    def route(self, h, method, body):
        url = urllib.parse.urlsplit(h.path)
        path = url.path.rstrip("/")
        ok = lambda status, obj, route: h.answer(status, json_body(obj), [("Content-Type", "application/json")], route)
        m = re.fullmatch(r"/api/([0-9.]+)/(.*)", path)
        if not m:
            return self.error(h, 404, "404000", "Not found", f"no such path {path}", "other")
        rest = m.group(2)
        if method == "GET" and rest.lower() == "serverinfo":
            return ok(200, {"serverInfo": {"productVersion": {"value": "2024.2.0", "build": "20242.24.0711.1636"},
                                           "restApiVersion": "3.23"}}, "serverinfo")
        if method == "POST" and rest == "auth/signin":
            try:
                creds = json.loads(body)["credentials"]
                good = (creds.get("personalAccessTokenName") == PAT_NAME
                        and creds.get("personalAccessTokenSecret") == PAT_SECRET
                        and creds.get("site", {}).get("contentUrl") == SITE_CONTENT_URL)
            except (ValueError, KeyError, TypeError, AttributeError):
                good = False
            if not good:
                return self.error(h, 401, "401001", "Signin Error", "Error signing in to Tableau Server", "signin")
            token = uuid.uuid4().hex
            with self.tokens_lock:
                self.tokens.add(token)
            with self.counters.lock:
                self.counters.signed_in += 1
            return ok(200, {"credentials": {"site": {"id": SITE_ID, "contentUrl": SITE_CONTENT_URL},
                                            "user": {"id": USER_ID}, "token": token,
                                            "estimatedTimeToExpiration": "365:00:00"}}, "signin")
        if method == "POST" and rest == "auth/signout":
            token = h.headers.get("X-Tableau-Auth")
            with self.tokens_lock:
                known = token in self.tokens
                self.tokens.discard(token)
            if known:
                with self.counters.lock:
                    self.counters.signed_out += 1
            return h.answer(204, route="signout")
        if not self.authorized(h):
            return self.error(h, 401, "401002", "Unauthorized Access", "Invalid authentication credentials were provided.", "unauthorized")
        m = re.fullmatch(r"sites/([^/]+)/(workbooks|datasources|jobs)(?:/([^/]+))?(?:/(refresh))?", rest)
        if not m or m.group(1) != SITE_ID:
            return self.error(h, 404, "404000", "Resource Not Found", f"no such resource {rest}", "other")
        _, kind, item, refresh = m.groups()
        if kind == "jobs" and method == "GET" and item and not refresh:
            return ok(200, {"job": {"id": item, "mode": "Asynchronous", "type": "RefreshExtract", "progress": "100",
                                    "finishCode": "0", "createdAt": "2026-11-28T07:29:40Z",
                                    "completedAt": "2026-11-28T07:30:10Z"}}, "job")
        singular = kind[:-1]
        if method == "GET" and item is None:
            query = urllib.parse.parse_qs(url.query)
            raw_filter = urllib.parse.unquote(query.get("filter", [""])[0])
            terms = dict(t.split(":eq:", 1) for t in raw_filter.split(",") if ":eq:" in t)
            name = terms.get("name", "")
            page_size = query.get("pageSize", ["100"])[0]
            page = query.get("pageNumber", ["1"])[0]
            project = terms.get("projectName")
            found = []
            if name and not name.lower().startswith("missing") and project in (None, PROJECT["name"]):
                found = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, kind + "/" + name)), "name": name,
                          "contentUrl": re.sub(r"\W+", "", name), "project": PROJECT}]
            return ok(200, {"pagination": {"pageNumber": page, "pageSize": page_size, "totalAvailable": str(len(found))},
                            kind: {singular: found} if found else {}}, "query_" + kind)
        if method == "POST" and item and refresh:
            if self.refresh_delay:
                time.sleep(self.refresh_delay)
            return ok(202, {"job": {"id": str(uuid.uuid4()), "mode": "Asynchronous", "type": "RefreshExtract",
                                    "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}, "refresh_" + kind)
        return self.error(h, 405, "405000", "Method Not Allowed", f"{method} {rest}", "other")


class SecretsProxy:
    """Forwards every request to moto_server and counts them (and connections)."""

    def __init__(self, upstream):
        self.counters = Counters()
        up = urllib.parse.urlsplit(upstream)
        proxy = self

        class Handler(CountingHandler):
            counters = proxy.counters

            def forward(self, method):
                body = self.read_body()
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=10)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length")}
                conn.request(method, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                route = self.headers.get("X-Amz-Target", method + " " + self.path.split("?")[0])
                out = [(k, v) for k, v in resp.getheaders()
                       if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length", "server", "date")]
                self.answer(resp.status, data, out, route)

            def do_GET(self):
                self.forward("GET")

            def do_POST(self):
                self.forward("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--moto", required=True, help="moto_server URL")
    p.add_argument("--refresh-delay-ms", type=float, default=0)
    a = p.parse_args()
    tableau = Tableau()
    tableau.refresh_delay = a.refresh_delay_ms / 1000
    secrets = SecretsProxy(a.moto)
    sfn = StepFunctions(forbidden=(PAT_SECRET, WEBHOOK_KEY))

    class Control(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, obj):
            body = json_body(obj)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            with tableau.tokens_lock:
                open_sessions = len(tableau.tokens)
            self.reply({"tableau": dict(tableau.counters.snapshot(), open_sessions=open_sessions),
                        "secrets": secrets.counters.snapshot(),
                        "sfn": sfn.snapshot(),
                        "refresh_delay_ms": tableau.refresh_delay * 1000,
                        "request_delay_ms": tableau.request_delay * 1000})

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/reset":
                tableau.counters.reset()
                secrets.counters.reset()
                sfn.reset()
            elif self.path == "/config":
                config = json.loads(body or b"{}")
                tableau.refresh_delay = float(config.get("refresh_delay_ms", 0)) / 1000
                tableau.request_delay = float(config.get("request_delay_ms", 0)) / 1000
            self.do_GET()

    control = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    control.daemon_threads = True
    for server in (tableau.server, secrets.server, sfn):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"tableau": tableau.server.server_address[1], "secrets": secrets.server.server_address[1],
                      "sfn": sfn.port, "control": control.server_address[1]}), flush=True)
    control.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
