"""The benchmark's machinery, shared by bench/run.py and its sections: the
services (moto_server, bench/fakes.py), the Lambda environment, and `run()`, one
container of the real binary (or a reference) under the Runtime API emulator.

stdlib only, except boto3 (to put the bench secret into moto).
"""
import collections
import datetime
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from runtime_api import RuntimeAPI  # noqa: E402
import fakes  # noqa: E402

_spec = importlib.util.spec_from_file_location("make_event", os.path.join(ROOT, "scripts", "make-event.py"))
make_event = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_event)

# Cargo's output directory: CARGO_TARGET_DIR (relative to the project) or target/.
TARGET_DIR = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR") or "target")
# BENCH_PROFILE=debug: the test command's quick run measures the binary its tests
# built instead of making a release build (figures then say nothing; the run
# checks that the benchmark works).
PROFILE = os.environ.get("BENCH_PROFILE") or "release"
BINARY = os.path.join(TARGET_DIR, PROFILE, "dbt-tableau-refresh")
WORKDIR = os.path.join(ROOT, "target", "bench")
WEBHOOK_KEY = fakes.WEBHOOK_KEY
SECRET_NAME = "dbt-tableau-refresh/bench"
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:dbt-tableau-refresh-bench"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cargo(*args):
    log("==> cargo " + " ".join(args))
    subprocess.run(["cargo", *args], cwd=ROOT, check=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_json(url, data=None):
    req = urllib.request.Request(url, data=None if data is None else json.dumps(data).encode(),
                                 method="GET" if data is None else "POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def events(n):
    """n distinct signed run-succeeded deliveries (job 123), as dbt Cloud sends them."""
    template = json.load(open(os.path.join(ROOT, "events", "bodies", "run-succeeded.json")))
    out = []
    for i in range(n):
        body = json.loads(json.dumps(template))
        body["eventId"] = f"wev_bench{i:06d}"
        body["data"]["runId"] = str(100000 + i)
        body["timestamp"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        raw = json.dumps(body, separators=(",", ":")).encode()
        out.append(json.dumps(make_event.function_url_event(raw, make_event.sign(raw, WEBHOOK_KEY),
                                                            request_id=str(uuid.uuid4()))).encode())
    return out


def targets(n):
    return json.dumps([{"workbook": f"Bench Workbook {i + 1:02d}", "project": "Bench"} for i in range(n)])


class Services:
    """moto_server (Secrets Manager; Step Functions for the moto comparison) and
    bench/fakes.py (Tableau, the counting proxy, the StartExecution stand-in)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []
        bindir = os.path.dirname(sys.executable)
        moto = shutil.which("moto_server", path=bindir) or shutil.which("moto_server")
        port = free_port()
        self.moto_url = f"http://127.0.0.1:{port}"
        self.procs.append(subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)],
                                           stdout=open(os.path.join(workdir, "moto.log"), "wb"),
                                           stderr=subprocess.STDOUT))
        for _ in range(200):
            try:
                urllib.request.urlopen(self.moto_url + "/moto-api/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("moto_server did not start")
        f = subprocess.Popen([sys.executable, os.path.join(HERE, "fakes.py"), "--moto", self.moto_url],
                             stdout=subprocess.PIPE, stderr=open(os.path.join(workdir, "fakes.log"), "wb"))
        self.procs.append(f)
        ports = json.loads(f.stdout.readline())
        self.tableau_url = f"http://127.0.0.1:{ports['tableau']}"
        self.secrets_url = f"http://127.0.0.1:{ports['secrets']}"
        self.sfn_url = f"http://127.0.0.1:{ports['sfn']}"
        self.control_url = f"http://127.0.0.1:{ports['control']}"
        import boto3
        aws = dict(endpoint_url=self.moto_url, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
        boto3.client("secretsmanager", **aws).create_secret(Name=SECRET_NAME, SecretString=json.dumps({
            "DBT_WEBHOOK_KEY": WEBHOOK_KEY,
            "TABLEAU_SITE_URL": self.tableau_url,
            "TABLEAU_SITE_NAME": fakes.SITE_CONTENT_URL,
            "TABLEAU_API_TOKEN_NAME": fakes.PAT_NAME,
            "TABLEAU_API_TOKEN_SECRET": fakes.PAT_SECRET,
        }))
        # moto records executions without running them (no execute_state_machine).
        self.moto_state_machine = boto3.client("stepfunctions", **aws).create_state_machine(
            name="dbt-tableau-refresh-bench", roleArn="arn:aws:iam::123456789012:role/bench",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        )["stateMachineArn"]

    def stats(self):
        return http_json(self.control_url + "/stats")

    def reset(self, fake=None):
        """Counters to zero once the fake Tableau is idle (a container that gave up
        on a slow Tableau leaves requests behind); `fake` sets its delays (fakes.py)."""
        end = time.monotonic() + 10
        while self.stats()["tableau"]["inflight"] and time.monotonic() < end:
            time.sleep(0.05)
        http_json(self.control_url + "/config", dict(fake or {}))
        return http_json(self.control_url + "/reset", {})

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


def workflow_env(services, moto=False):
    """Workflow mode against the StartExecution stand-in (or moto_server)."""
    if moto:
        return {"STATE_MACHINE_ARN": services.moto_state_machine, "AWS_ENDPOINT_URL_SFN": services.moto_url}
    return {"STATE_MACHINE_ARN": STATE_MACHINE, "AWS_ENDPOINT_URL_SFN": services.sfn_url}


def lambda_env(api, services, runtime, extra):
    """The environment Lambda gives a function, pointed at the local fakes."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "dbt-tableau-refresh",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/dbt-tableau-refresh",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/28/[$LATEST]" + uuid.uuid4().hex,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": services.secrets_url,
        "SECRET_ID": SECRET_NAME,
    }
    if runtime == "python":
        env.update({"AWS_EXECUTION_ENV": "AWS_Lambda_python3", "_HANDLER": "zapier_reference.handler",
                    "LAMBDA_TASK_ROOT": HERE, "PYTHONPATH": HERE, "PYTHONUNBUFFERED": "1"})
    else:
        env.update({"AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023", "_HANDLER": "bootstrap",
                    "LAMBDA_TASK_ROOT": os.path.dirname(BINARY)})
    env.update(extra)
    return env


def command(runtime, binary):
    if runtime == "python":
        return [sys.executable, "-m", "awslambdaric", "zapier_reference.handler"]
    if runtime == "echo":
        return [sys.executable, os.path.join(HERE, "echo_runtime.py")]
    return [binary]


def peak_rss_kb(pid):
    """VmHWM of the process, or the largest of it and its descendants' (a binary
    run through a wrapper such as lambda-cpu, which runs it as its child)."""
    best = None
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                best = int(line.split()[1])
    except OSError:
        return best
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            for child in open(f"/proc/{pid}/task/{tid}/children").read().split():
                kb = peak_rss_kb(int(child))
                if kb is not None and (best is None or kb > best):
                    best = kb
    except (OSError, ValueError):
        pass
    return best


def cpu_ns(pid):
    """Time the process's threads have spent on a CPU, in ns (schedstat): what a
    call costs the function itself, whatever the load of the machine."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total


def describe(kind, body):
    """('200 dry_run', ['dry_run', ...]) from a runtime answer."""
    if kind != "response":
        return f"{kind or 'timeout'}", []
    try:
        resp = json.loads(body)
        inner = json.loads(resp.get("body") or "{}")
        results = [t.get("result", "?") + (": " + t["error"] if t.get("error") else "")
                   for t in inner.get("targets", []) if isinstance(t, dict)]
        return f"{resp.get('statusCode')} {inner.get('status')}", results
    except (ValueError, AttributeError):
        return "unparsable", []


def run(label, runtime, services, workdir, extra_env, warm, binary=BINARY, fake=None):
    """One container: spawn, first invocation, `warm` more. Returns the figures.
    `fake`: the fake Tableau's delays for this container (Services.reset)."""
    services.reset(fake)
    api = RuntimeAPI()
    evs = events(warm + 1)
    logpath = os.path.join(workdir, f"{label}.log")
    out = open(logpath, "wb")
    env = lambda_env(api, services, runtime, extra_env)
    cwd = HERE if runtime == "python" else ROOT
    t0 = time.perf_counter()
    proc = subprocess.Popen(command(runtime, binary), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    alive = lambda: proc.poll() is None
    try:
        ready = api.wait_ready(30, alive)
        if ready is None:
            raise RuntimeError(f"{label}: runtime never asked for an event (see {logpath})")
        # Blocked in its first `next`: the CPU so far is all init's, whatever the load.
        init_cpu = cpu_ns(proc.pid)
        r = {"label": label, "runtime": runtime, "init": ready - t0,
             "init_cpu_us": init_cpu / 1000 if init_cpu is not None else None}
        answers, results = collections.Counter(), collections.Counter()
        latency, kind, body = api.invoke(evs[0], alive=alive)
        if kind is None:
            raise RuntimeError(f"{label}: no answer to the first event (see {logpath})")
        r["first"] = latency
        a, rs = describe(kind, body)
        answers[a] += 1
        results.update(rs)
        s1 = services.stats()
        cpu1 = cpu_ns(proc.pid)
        lat = []
        for ev in evs[1:]:
            latency, kind, body = api.invoke(ev, alive=alive)
            if kind is None:
                raise RuntimeError(f"{label}: no answer (see {logpath})")
            lat.append(latency)
            a, rs = describe(kind, body)
            answers[a] += 1
            results.update(rs)
        cpu2 = cpu_ns(proc.pid)
        s2 = services.stats()
        r["rss_kb"] = peak_rss_kb(proc.pid)
        r["warm"] = lat
        r["n_warm"] = len(lat)
        n = max(len(lat), 1)
        r["cpu_us"] = (cpu2 - cpu1) / 1000 / n if lat and cpu1 is not None and cpu2 is not None else None
        r["tableau_req"] = (s2["tableau"]["requests"] - s1["tableau"]["requests"]) / n
        r["tableau_conn"] = (s2["tableau"]["connections"] - s1["tableau"]["connections"]) / n
        r["secrets_req"] = (s2["secrets"]["requests"] - s1["secrets"]["requests"]) / n
        r["sfn_req"] = (s2["sfn"]["requests"] - s1["sfn"]["requests"]) / n
        r["first_sfn_req"] = s1["sfn"]["requests"]
        r["sfn_total"] = s2["sfn"]
        r["first_tableau"] = s1["tableau"]
        r["first_secrets_req"] = s1["secrets"]["requests"]
        r["tableau_total"] = s2["tableau"]
        r["answers"] = dict(answers)
        r["results"] = dict(results)
        r["unexpected"] = list(api.unexpected)
        return r
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()
        api.close()
