"""A fake Tableau REST API that speaks both of Tableau's wire formats, for the
issue-13 benchmark (`cli_vs_tsc.py`): JSON to a client that sends `Accept:
application/json` (the `dbt-tableau` command), and XML in the `http://tableau.com/api`
namespace to one that doesn't (tableauserverclient sends `Accept: */*` and XML
bodies). Request bodies are read by their Content-Type.

    GET  /api/{v}/serverInfo                 any case; restApiVersion 3.23
    POST /api/{v}/auth/signin                PAT credentials -> token, site id, user id
    POST /api/{v}/auth/signout               204
    GET  /api/{v}/sites/{site}/workbooks     filter=name:eq:N[,projectName:eq:P], pageSize,
    GET  /api/{v}/sites/{site}/datasources   pageNumber (a name in ITEMS matches once)
    POST /api/{v}/sites/{site}/{workbooks|datasources}/{id}/refresh   202 with a new job
    GET  /api/{v}/sites/{site}/jobs/{id}     running (progress 50, no completedAt) until
                                             job_seconds after its refresh, then finishCode 0

Records, per run, when the first refresh came and when each job was first reported
finished, so the runner can tell the time a client spent waiting on jobs from its own.
stdlib only; threaded; HTTP/1.1 keep-alive.
"""
import json
import re
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from http_body import read_body

NS = "http://tableau.com/api"
PAT_NAME = "bench-pat"
PAT_SECRET = "bench-pat-secret"
SITE_CONTENT_URL = "bench"
SITE_ID = "a946d998-2ead-4894-bb50-1054a91dcab3"
USER_ID = "9f9e9d9c-8b8a-4f7e-9d6c-5b4a3f2e1d0c"
PROJECT = {"id": "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b", "name": "Bench"}
# The items the fake knows, by kind; everything else matches nothing.
ITEMS = {"workbooks": ("Sales Overview", "Inventory"), "datasources": ("Orders",)}


def stamp(at):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def xml_doc(*children):
    """A tsResponse holding `children`, each (tag, attrs, [children] or text)."""
    root = ET.Element("tsResponse", {"xmlns": NS})

    def add(parent, node):
        tag, attrs, inner = node
        el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})
        if isinstance(inner, str):
            el.text = inner
        else:
            for child in inner:
                add(el, child)

    for child in children:
        add(root, child)
    return b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root)


class Recorder:
    """Times of one run, in time.monotonic() seconds (the runner's clock too)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.requests = 0
            self.signins = 0
            self.polls = 0
            self.first_refresh = None
            self.jobs = {}  # id -> finish time
            self.seen_done = {}  # id -> when first answered finished

    def snapshot(self):
        with self.lock:
            return {"requests": self.requests, "signins": self.signins, "polls": self.polls, "first_refresh": self.first_refresh,
                    "jobs": len(self.jobs), "last_seen_done": max(self.seen_done.values(), default=None),
                    "all_seen_done": len(self.seen_done) == len(self.jobs) and bool(self.jobs)}


class FakeTableau:
    def __init__(self, job_seconds=2.0):
        self.job_seconds = job_seconds
        self.record = Recorder()
        self.tokens = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                read_body(self)
                fake.route(self, "GET", b"")

            def do_POST(self):
                fake.route(self, "POST", read_body(self))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def port(self):
        return self.server.server_address[1]

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()

    # -- answers in the client's format ------------------------------------

    @staticmethod
    def wants_json(h):
        return "application/json" in h.headers.get("Accept", "")

    def send(self, h, status, body=b"", as_json=False):
        with self.record.lock:
            self.record.requests += 1
        h.send_response(status)
        if status != 204:
            h.send_header("Content-Type", "application/json" if as_json else "application/xml;charset=utf-8")
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if status != 204:
            h.wfile.write(body)

    def answer(self, h, status, name, attrs, children=()):
        """One element `name` with `attrs` and child elements (tag, attrs), in
        the format the client asked for."""
        if self.wants_json(h):
            obj = {k: v for k, v in attrs.items() if v is not None}
            for tag, child_attrs in children:
                obj[tag] = child_attrs
            return self.send(h, status, json.dumps({name: obj}).encode(), True)
        return self.send(h, status, xml_doc((name, attrs, [(t, a, []) for t, a in children])))

    def error(self, h, status, code, summary, detail):
        if self.wants_json(h):
            body = json.dumps({"error": {"summary": summary, "detail": detail, "code": code}}).encode()
            return self.send(h, status, body, True)
        return self.send(h, status, xml_doc(("error", {"code": code}, [("summary", {}, summary),
                                                                        ("detail", {}, detail)])))

    # -- routes -------------------------------------------------------------

    def signin(self, h, body):
        try:
            if "json" in h.headers.get("Content-Type", ""):
                creds = json.loads(body)["credentials"]
                name, secret = creds.get("personalAccessTokenName"), creds.get("personalAccessTokenSecret")
                site = creds.get("site", {}).get("contentUrl")
            else:
                creds = ET.fromstring(body).find("credentials")
                name, secret = creds.get("personalAccessTokenName"), creds.get("personalAccessTokenSecret")
                site = creds.find("site").get("contentUrl")
            good = (name, secret, site) == (PAT_NAME, PAT_SECRET, SITE_CONTENT_URL)
        except (ValueError, KeyError, TypeError, AttributeError, ET.ParseError):
            good = False
        if not good:
            return self.error(h, 401, "401001", "Signin Error", "Error signing in to Tableau Server")
        token = uuid.uuid4().hex
        with self.record.lock:
            self.tokens.add(token)
            self.record.signins += 1
        site_attrs = {"id": SITE_ID, "contentUrl": SITE_CONTENT_URL}
        if self.wants_json(h):
            return self.send(h, 200, json.dumps({"credentials": {
                "site": site_attrs, "user": {"id": USER_ID}, "token": token,
                "estimatedTimeToExpiration": "365:00:00"}}).encode(), True)
        return self.send(h, 200, xml_doc(("credentials", {"token": token, "estimatedTimeToExpiration": "365:00:00"},
                                          [("site", site_attrs, []), ("user", {"id": USER_ID}, [])])))

    def query(self, h, kind, query):
        terms = dict(t.split(":eq:", 1) for t in query.get("filter", [""])[0].split(",") if ":eq:" in t)
        page_size = int(query.get("pageSize", ["100"])[0])
        page = int(query.get("pageNumber", ["1"])[0])
        name, project = terms.get("name", ""), terms.get("projectName")
        found = []
        if name in ITEMS[kind] and project in (None, PROJECT["name"]):
            found = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, kind + "/" + name)), "name": name,
                      "contentUrl": re.sub(r"\W+", "", name), "createdAt": "2026-01-05T10:00:00Z",
                      "updatedAt": "2026-11-27T07:00:00Z"}]
        total = len(found)
        found = found[(page - 1) * page_size:page * page_size]
        pagination = {"pageNumber": str(page), "pageSize": str(page_size), "totalAvailable": str(total)}
        singular = kind[:-1]
        if self.wants_json(h):
            items = [dict(i, project=PROJECT, owner={"id": USER_ID}) for i in found]
            return self.send(h, 200, json.dumps({"pagination": pagination,
                                                 kind: {singular: items} if items else {}}).encode(), True)
        items = [(singular, i, [("project", PROJECT, []), ("owner", {"id": USER_ID}, [])]) for i in found]
        return self.send(h, 200, xml_doc(("pagination", pagination, []), (kind, {}, items)))

    def refresh(self, h, kind, item):
        now = time.monotonic()
        job = str(uuid.uuid4())
        with self.record.lock:
            self.record.jobs[job] = (now + self.job_seconds, time.time(), kind[:-1], item)
            if self.record.first_refresh is None:
                self.record.first_refresh = now
        return self.answer(h, 202, "job", {"id": job, "mode": "Asynchronous", "type": "RefreshExtract",
                                           "createdAt": stamp(time.time())})

    def job(self, h, job):
        now = time.monotonic()
        with self.record.lock:
            self.record.polls += 1
            known = self.record.jobs.get(job)
            done = known is not None and now >= known[0]
            if done:
                self.record.seen_done.setdefault(job, now)
        if known is None:
            return self.error(h, 404, "404031", "Resource Not Found", f"no job {job}")
        finish_at, created, kind, item = known
        attrs = {"id": job, "mode": "Asynchronous", "type": "RefreshExtract", "createdAt": stamp(created),
                 "startedAt": stamp(created), "progress": "100" if done else "50",
                 "finishCode": "0" if done else None, "completedAt": stamp(time.time()) if done else None}
        return self.answer(h, 200, "job", attrs, [("extractRefreshJob", {kind: {"id": item}})] if self.wants_json(h)
                           else [(kind, {"id": item})])

    def route(self, h, method, body):
        url = urllib.parse.urlsplit(h.path)
        m = re.fullmatch(r"/api/([0-9.]+)/(.*)", url.path.rstrip("/"))
        rest = m.group(2) if m else ""
        if method == "GET" and rest.lower() == "serverinfo":
            if self.wants_json(h):
                return self.send(h, 200, json.dumps({"serverInfo": {
                    "productVersion": {"value": "2024.2.0", "build": "20242.24.0711.1636"},
                    "restApiVersion": "3.23"}}).encode(), True)
            return self.send(h, 200, xml_doc(("serverInfo", {}, [
                ("productVersion", {"build": "20242.24.0711.1636"}, "2024.2.0"),
                ("restApiVersion", {}, "3.23")])))
        if method == "POST" and rest == "auth/signin":
            return self.signin(h, body)
        if method == "POST" and rest == "auth/signout":
            with self.record.lock:
                self.tokens.discard(h.headers.get("X-Tableau-Auth"))
            return self.send(h, 204)
        with self.record.lock:
            authorized = h.headers.get("X-Tableau-Auth") in self.tokens
        if not authorized:
            return self.error(h, 401, "401002", "Unauthorized Access", "Invalid authentication credentials were provided.")
        m = re.fullmatch(r"sites/([^/]+)/(workbooks|datasources|jobs)(?:/([^/]+))?(?:/(refresh))?", rest)
        if not m or m.group(1) != SITE_ID:
            return self.error(h, 404, "404000", "Resource Not Found", f"no such resource {rest}")
        _, kind, item, refresh = m.groups()
        if kind == "jobs" and method == "GET" and item and not refresh:
            return self.job(h, item)
        if kind != "jobs" and method == "GET" and item is None:
            return self.query(h, kind, urllib.parse.parse_qs(url.query))
        if kind != "jobs" and method == "POST" and item and refresh:
            return self.refresh(h, kind, item)
        return self.error(h, 405, "405000", "Method Not Allowed", f"{method} {rest}")
