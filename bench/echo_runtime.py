"""The harness floor: the smallest possible runtime (stdlib, one kept-alive
connection) that answers every event with `{}`. Its latency is what the emulator
and the loopback cost by themselves; every other figure includes it."""
import http.client
import os

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    r = conn.getresponse()
    r.read()
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", body=b"{}")
    conn.getresponse().read()
