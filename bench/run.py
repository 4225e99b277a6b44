#!/usr/bin/env python3
"""The benchmark runner (issue 6). Run it through scripts/bench.sh.

Starts moto_server (Secrets Manager), bench/fakes.py (fake Tableau + a counting
proxy in front of moto), and for each configuration a Lambda Runtime API emulator
(bench/runtime_api.py) with the real release binary under it, as Lambda would run
it; feeds signed Function URL events and measures from the outside:

  init            process spawn -> first GET /runtime/invocation/next
  first           latency of the first invocation (queued -> answer received)
  warm            median / p99 latency of the following invocations
  peak RSS        VmHWM of the process after the warm invocations
  per warm call   Tableau requests, new Tableau TCP connections, Secrets Manager
                  calls (counted by the fakes between the first and the last call)
  targets         warm wall time with 1, 5 and 20 targets, each refresh delayed

and the same for the reference (bench/zapier_reference.py under awslambdaric).
The answers' statuses are reported with the figures: a build whose Tableau client
is a stub answers 502 "failed" and makes no Tableau request, and says so.
"""
import argparse
import collections
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
import importlib.util

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from runtime_api import RuntimeAPI  # noqa: E402
import fakes  # noqa: E402

_spec = importlib.util.spec_from_file_location("make_event", os.path.join(ROOT, "scripts", "make-event.py"))
make_event = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_event)

WEBHOOK_KEY = "bench-webhook-key"
SECRET_NAME = "dbt-tableau-refresh/bench"
BINARY = os.path.join(ROOT, "target", "release", "dbt-tableau-refresh")
REFRESH_DELAY_MS = 50
TARGET_COUNTS = (1, 5, 20)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


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
        self.control_url = f"http://127.0.0.1:{ports['control']}"
        import boto3
        sm = boto3.client("secretsmanager", endpoint_url=self.moto_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        sm.create_secret(Name=SECRET_NAME, SecretString=json.dumps({
            "DBT_WEBHOOK_KEY": WEBHOOK_KEY,
            "TABLEAU_SITE_URL": self.tableau_url,
            "TABLEAU_SITE_NAME": fakes.SITE_CONTENT_URL,
            "TABLEAU_API_TOKEN_NAME": fakes.PAT_NAME,
            "TABLEAU_API_TOKEN_SECRET": fakes.PAT_SECRET,
        }))

    def stats(self):
        return http_json(self.control_url + "/stats")

    def reset(self, delay_ms=0):
        http_json(self.control_url + "/config", {"refresh_delay_ms": delay_ms})
        return http_json(self.control_url + "/reset", {})

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


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
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


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


def run(label, runtime, services, workdir, extra_env, warm, binary=BINARY, delay_ms=0):
    """One container: spawn, first invocation, `warm` more. Returns the figures."""
    services.reset(delay_ms)
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
        r = {"label": label, "runtime": runtime, "init": ready - t0}
        answers, results = collections.Counter(), collections.Counter()
        latency, kind, body = api.invoke(evs[0], alive=alive)
        if kind is None:
            raise RuntimeError(f"{label}: no answer to the first event (see {logpath})")
        r["first"] = latency
        a, rs = describe(kind, body)
        answers[a] += 1
        results.update(rs)
        s1 = services.stats()
        lat = []
        for ev in evs[1:]:
            latency, kind, body = api.invoke(ev, alive=alive)
            if kind is None:
                raise RuntimeError(f"{label}: no answer (see {logpath})")
            lat.append(latency)
            a, rs = describe(kind, body)
            answers[a] += 1
            results.update(rs)
        s2 = services.stats()
        r["rss_kb"] = peak_rss_kb(proc.pid)
        r["warm"] = lat
        r["n_warm"] = len(lat)
        n = max(len(lat), 1)
        r["tableau_req"] = (s2["tableau"]["requests"] - s1["tableau"]["requests"]) / n
        r["tableau_conn"] = (s2["tableau"]["connections"] - s1["tableau"]["connections"]) / n
        r["secrets_req"] = (s2["secrets"]["requests"] - s1["secrets"]["requests"]) / n
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


def ms(x):
    return f"{x * 1000:.2f}" if x is not None else "n/a"


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version(),
            "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip(),
            "load": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else [],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def binary_sizes():
    sizes = []
    for p in [BINARY] + sorted(__import__("glob").glob(os.path.join(ROOT, "target", "lambda", "*", "bootstrap"))):
        if os.path.exists(p):
            sizes.append((os.path.relpath(p, ROOT), os.path.getsize(p)))
    return sizes


def is_stub(r):
    """A refresh run whose Tableau client made no Tableau request at all."""
    return r["tableau_total"]["requests"] == 0 and any(a.endswith("failed") for a in r["answers"])


def fmt_answers(r):
    parts = [f"{k} ×{v}" for k, v in sorted(r["answers"].items())]
    res = [f"{k} ×{v}" for k, v in sorted(r["results"].items())]
    return "; ".join(parts) + (f" (targets: {'; '.join(res)})" if res else "")


def report(m, sizes, init_runs, configs, scaling, profiles, quick):
    L = []
    L.append(f"Machine: {m['nproc']} cores, {m['cpu']}, Linux {m['kernel']}; {m['rustc']}; "
             f"Python {m['python']}; load average at start {' '.join(m['load'])}; {m['date']}" + ("; **quick mode**" if quick else ""))
    L.append("")
    L.append("| binary | size |")
    L.append("| --- | --- |")
    for path, size in sizes:
        L.append(f"| `{path}` | {size / 1e6:.2f} MB ({size} bytes) |")
    L.append("")
    cols = [c for c in configs if c is not None]
    L.append("| figure | " + " | ".join(c["title"] for c in cols) + " |")
    L.append("| --- |" + " --- |" * len(cols))

    def row(name, f):
        L.append(f"| {name} | " + " | ".join(f(c) for c in cols) + " |")

    row("init: spawn → first `next`, median of spawns (ms)",
        lambda c: f"{ms(statistics.median(init_runs[c['key']]))} (n={len(init_runs[c['key']])})" if init_runs.get(c["key"]) else ms(c["init"]))
    row("init: min / max of spawns (ms)",
        lambda c: f"{ms(min(init_runs[c['key']]))} / {ms(max(init_runs[c['key']]))}" if init_runs.get(c["key"]) else "")
    row("first invocation (ms)", lambda c: ms(c["first"]))
    row("first invocation: Secrets Manager calls, Tableau requests, new connections",
        lambda c: f"{c['first_secrets_req']}, {c['first_tableau']['requests']}, {c['first_tableau']['connections']}")
    row("warm median (ms)", lambda c: ms(statistics.median(c["warm"])))
    row("warm p99 (ms)", lambda c: ms(pct(c["warm"], 99)))
    row("warm invocations", lambda c: str(c["n_warm"]))
    row("peak RSS, VmHWM after the warm calls (MB)", lambda c: f"{c['rss_kb'] / 1024:.1f}" if c["rss_kb"] else "n/a")
    row("Secrets Manager calls per warm call", lambda c: f"{c['secrets_req']:.2f}")
    row("Tableau requests per warm call", lambda c: f"{c['tableau_req']:.2f}")
    row("new Tableau connections per warm call", lambda c: f"{c['tableau_conn']:.2f}")
    row("Tableau sessions left signed in", lambda c: str(c["tableau_total"]["open_sessions"]))
    row("answers", fmt_answers)
    L.append("")
    for mode in ("dry", "refresh"):
        rust = next((c for c in cols if c["key"] == "rust-" + mode), None)
        py = next((c for c in cols if c["key"] == "python-" + mode), None)
        if not (rust and py):
            continue
        if is_stub(rust):
            L.append(f"Python reference / Rust, {mode}: not comparable, the Rust build's Tableau client is the stub.")
            L.append("")
            continue
        ri = statistics.median(init_runs.get(rust["key"]) or [rust["init"]])
        pi = statistics.median(init_runs.get(py["key"]) or [py["init"]])
        L.append(f"Python reference / Rust, {mode}: init ×{pi / ri:.1f}, warm median "
                 f"×{statistics.median(py['warm']) / statistics.median(rust['warm']):.1f}, "
                 f"first invocation ×{py['first'] / rust['first']:.1f}, "
                 f"peak RSS ×{py['rss_kb'] / rust['rss_kb']:.1f}.")
        L.append("")
    if scaling:
        L.append(f"Targets (each refresh answered after {REFRESH_DELAY_MS} ms; warm wall time, median):")
        L.append("")
        L.append("| targets | " + " | ".join(title for title, _ in scaling) + " |")
        L.append("| --- |" + " --- |" * len(scaling))
        for i, n in enumerate(TARGET_COUNTS):
            cells = []
            for _, runs in scaling:
                r = runs[i]
                base = statistics.median(runs[0]["warm"])
                med = statistics.median(r["warm"])
                cells.append(f"{ms(med)} ms (×{med / base:.1f}), {r['tableau_req']:.0f} req, "
                             f"{r['tableau_conn']:.1f} new conn (first call {r['first_tableau']['connections']}); {fmt_answers(r)}")
            L.append(f"| {n} | " + " | ".join(cells) + " |")
        L.append("")
    if profiles:
        L.append("Release profile variants (dry run; same harness):")
        L.append("")
        L.append("| profile | size | init median (ms) | warm median (ms) | peak RSS (MB) |")
        L.append("| --- | --- | --- | --- | --- |")
        for name, size, inits, r in profiles:
            L.append(f"| {name} | {size / 1e6:.2f} MB | {ms(statistics.median(inits))} | "
                     f"{ms(statistics.median(r['warm']))} | {r['rss_kb'] / 1024:.1f} |")
        L.append("")
    notes = []
    for c in cols:
        if c["key"].startswith("rust-refresh") and is_stub(c):
            notes.append(f"**STUB**: `{c['title']}` made no Tableau request and answered "
                         f"{fmt_answers(c)}: this build's Tableau client is the stub, so its refresh figures "
                         "measure the verify/secret/route path plus the stub, not a real refresh.")
        if c.get("unexpected"):
            notes.append(f"{c['title']}: unexpected Runtime API calls {c['unexpected']}")
    for title, runs in scaling:
        if title.startswith("Rust") and any(is_stub(r) for r in runs):
            notes.append("**STUB**: the Rust targets column made no Tableau request: not a real 1/5/20 comparison.")
            break
    L += [f"- {n}" for n in notes]
    return "\n".join(L).rstrip() + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few invocations, no Python reference")
    p.add_argument("--no-build", action="store_true", help="don't run cargo build --release")
    p.add_argument("--warm", type=int, help="warm invocations per configuration (default 300; quick 20)")
    p.add_argument("--spawns", type=int, help="spawns for the init median (default 10; quick 3)")
    p.add_argument("--no-python", action="store_true", help="skip the Python reference")
    p.add_argument("--profile", action="append", default=[], metavar="NAME=PATH",
                   help="also measure another build of the binary (size, init, dry-run warm)")
    p.add_argument("--out", default=os.path.join(HERE, "results.md"))
    a = p.parse_args()
    warm = a.warm or (20 if a.quick else 300)
    spawns = a.spawns or (3 if a.quick else 10)
    python = not (a.quick or a.no_python)
    if python:
        try:
            import awslambdaric  # noqa: F401
        except ImportError:
            log("awslambdaric is not installed: skipping the Python reference")
            python = False

    if not a.no_build:
        log("==> cargo build --release --locked")
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    workdir = os.path.join(ROOT, "target", "bench")
    os.makedirs(workdir, exist_ok=True)
    m = machine()
    sizes = binary_sizes()
    services = Services(workdir)
    try:
        real = {"REFRESH_TARGETS": targets(1), "DRY_RUN": "false"}
        dry = {"REFRESH_TARGETS": targets(1), "DRY_RUN": "true"}
        plan = [("rust-dry", "Rust, DRY_RUN=true", "rust", dry),
                ("rust-refresh", "Rust, 1 target", "rust", real)]
        if python:
            plan += [("python-dry", "Python ref, DRY_RUN=true", "python", dry),
                     ("python-refresh", "Python ref, 1 target", "python", real)]
        plan.append(("echo", "harness floor (echo runtime)", "echo", dry))
        configs, init_runs = [], {}
        for key, title, runtime, env in plan:
            n_warm = warm if runtime != "python" or not a.warm else a.warm
            if runtime == "python":
                n_warm = min(n_warm, 100 if not a.warm else a.warm)
            log(f"==> {title}: {n_warm} warm invocations")
            r = run(key, runtime, services, workdir, env, n_warm)
            r["key"], r["title"] = key, title
            configs.append(r)
            if runtime != "echo":
                inits = [r["init"]]
                for i in range(spawns - 1):
                    inits.append(run(f"{key}-spawn{i}", runtime, services, workdir, env, 0)["init"])
                init_runs[key] = inits
        scaling = []
        runtimes = [("Rust", "rust")] + ([("Python ref", "python")] if python else [])
        for title, runtime in runtimes:
            runs = []
            for n in TARGET_COUNTS:
                n_warm = 3 if a.quick or runtime == "python" else 10
                log(f"==> {title}: {n} targets, {n_warm} warm invocations, refresh delay {REFRESH_DELAY_MS} ms")
                runs.append(run(f"{runtime}-targets-{n}", runtime, services, workdir,
                                {"REFRESH_TARGETS": targets(n), "DRY_RUN": "false"}, n_warm,
                                delay_ms=REFRESH_DELAY_MS))
            scaling.append((title, runs))
        profiles = []
        for spec in a.profile:
            name, path = spec.split("=", 1)
            log(f"==> profile {name}: {path}")
            inits = [run(f"profile-{name}-spawn{i}", "rust", services, workdir, dry, 0, binary=path)["init"]
                     for i in range(spawns)]
            r = run(f"profile-{name}", "rust", services, workdir, dry, warm, binary=path)
            profiles.append((name, os.path.getsize(path), inits, r))
    finally:
        services.close()
    text = "# Benchmark results\n\n" + report(m, sizes, init_runs, configs, scaling, profiles, a.quick)
    print(text)
    with open(a.out, "w") as f:
        f.write(text)
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump({"machine": m, "configs": configs, "init_runs": init_runs,
                   "scaling": [(t, rs) for t, rs in scaling]}, f, indent=1, default=str)
    log(f"written {os.path.relpath(a.out)} and {os.path.relpath(os.path.join(workdir, 'results.json'))}")


if __name__ == "__main__":
    main()
