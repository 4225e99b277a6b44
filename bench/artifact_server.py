#!/usr/bin/env python3
"""A stand-in for dbt Cloud's Administrative API serving one run's artifacts from a
directory, for the exposure benchmark's HTTP figures (examples/resolve_bench.rs
--dbt-cloud). One run of one step; `manifest.json` and `run_results.json` (any
`?step=`) are sent from disk with sendfile, so the server costs the measured
process nothing but the bytes. It runs outside lambda-cpu's cgroup.

Usage: bench/artifact_server.py DIR  (prints the port on stdout, serves until killed)
"""
import http.server
import os
import socketserver
import sys

RUN = (b'{"status":{"code":200,"is_success":true},"data":{"id":2,"status":10,'
       b'"artifacts_saved":true,"run_steps":[{"index":1,"name":"Invoke dbt with `dbt build`","status":10}]}}')


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    directory = "."

    def do_GET(self):
        path = self.path.split("?")[0]
        name = path.rsplit("/", 1)[-1] if "/artifacts/" in path else None
        if name is None:
            self.reply(RUN)
            return
        file = os.path.join(self.directory, name)
        if name not in ("manifest.json", "run_results.json") or not os.path.exists(file):
            self.reply(b'{"status":{"code":404,"user_message":"not found"},"data":null}', 404)
            return
        size = os.path.getsize(file)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with open(file, "rb") as f:
            try:
                self.wfile.flush()
                sent = 0
                while sent < size:
                    sent += os.sendfile(self.connection.fileno(), f.fileno(), sent, size - sent)
            except OSError:
                pass

    def reply(self, body, status=200):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    Handler.directory = sys.argv[1]
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
