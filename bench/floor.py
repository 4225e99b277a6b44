"""Cold start against the floor (issue 16, part 5), side by side in one run:

- the floor: a bare `lambda_http` function (examples/bare_lambda.rs, built here
  with the same release profile and dependencies; nothing of it is in src/),
- the function in the plain mode (1 target), in workflow mode, and with DRY_RUN,

each spawned `--spawns` times, interleaved so that the machine's load hits all
alike; init is spawn -> first `next` (harness.run), with its CPU time. Then the
warm answer of workflow mode against DRY_RUN's, and, under strace, how many files
of the system's certificates each mode opens before its first `next`.

    python bench/floor.py [--no-build] [--spawns 30] [--warm 300]

Prints the section and writes it into bench/results.md between the
`<!-- floor -->` markers (added at the end the first time).
"""
import argparse
import os
import re
import shutil
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import BINARY, PROFILE, TARGET_DIR, WORKDIR, Services, cargo, log, pct, run, targets, workflow_env  # noqa: E402

BARE = os.path.join(TARGET_DIR, PROFILE, "examples", "bare_lambda")
SPAWNS = 30
INIT_FACTOR = 3.0
ANSWER_FACTOR = 2.0
BEGIN, END = "<!-- floor -->", "<!-- /floor -->"


def build():
    """The floor, then the function as run.py builds it. Two commands: building an
    example needs the package's dev-dependencies, and in one command with the binary
    their features (tokio's multi-thread runtime, tracing-subscriber's env-filter)
    would be built into the function too; the binary built last is the deployed one."""
    cargo("build", "--release", "--locked", "-p", "dbt-tableau-refresh", "--example", "bare_lambda")
    cargo("build", "--release", "--locked", "-p", "dbt-tableau-refresh", "--bin", "dbt-tableau-refresh")


def ms(seconds):
    return f"{seconds * 1000:.2f}"


def cert_opens(services, workdir, binary, env, label):
    """Files under /etc/ssl/certs (or SSL_CERT_*) opened before the first connect
    (the first `next`: init makes no other network call)."""
    strace = shutil.which("strace")
    if not strace:
        return None
    trace = os.path.join(workdir, f"{label}.strace")
    wrapper = os.path.join(workdir, f"{label}.sh")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec {strace} -f -e trace=openat,connect -o {trace} {binary}\n")
    os.chmod(wrapper, 0o755)
    run(label, "rust", services, workdir, env, 0, binary=wrapper)
    opens = 0
    for line in open(trace):
        if "connect(" in line:
            break
        if "openat(" in line and re.search(r"/etc/ssl|/etc/pki|ca-certificates|\.pem|\.crt", line):
            opens += 1
    return opens


def measure(spawns, warm):
    workdir = os.path.join(WORKDIR, "floor")
    os.makedirs(workdir, exist_ok=True)
    services = Services(workdir)
    try:
        plain = {"REFRESH_TARGETS": targets(1), "DRY_RUN": "false"}
        dry = {"REFRESH_TARGETS": targets(1), "DRY_RUN": "true"}
        flow = dict(plain, **workflow_env(services))
        variants = [("bare lambda_http (floor)", BARE, dry),
                    ("function, plain mode, 1 target", BINARY, plain),
                    ("function, workflow mode", BINARY, flow),
                    ("function, DRY_RUN", BINARY, dry)]
        inits = {name: [] for name, _, _ in variants}
        cpu = {name: [] for name, _, _ in variants}
        log(f"==> cold init: {len(variants)} builds/modes, {spawns} interleaved spawns each")
        for i in range(spawns):
            for name, binary, env in variants:
                r = run(f"floor-{i}-{len(inits[name])}-" + re.sub(r"\W+", "-", name), "rust",
                        services, workdir, env, 0, binary=binary)
                inits[name].append(r["init"])
                if r["init_cpu_us"] is not None:
                    cpu[name].append(r["init_cpu_us"])
        log(f"==> warm answers: DRY_RUN and workflow mode, {warm} each")
        answers = {key: run(f"floor-warm-{key}", "rust", services, workdir, env, warm, binary=BINARY)
                   for key, env in [("dry", dry), ("workflow", flow)]}
        log("==> certificate files opened before the first `next` (strace)")
        certs = {name: cert_opens(services, workdir, binary, env, "floor-strace-" + re.sub(r"\W+", "-", name))
                 for name, binary, env in variants[:3]}
    finally:
        services.close()
    return {"inits": inits, "cpu": cpu, "answers": answers, "certs": certs,
            "sizes": {"bare": os.path.getsize(BARE), "function": os.path.getsize(BINARY)}}


def report(m):
    floor = statistics.median(m["inits"]["bare lambda_http (floor)"])
    floor_cpu = statistics.median(m["cpu"]["bare lambda_http (floor)"] or [float("nan")])
    L = [BEGIN, "### Cold start against a bare lambda_http binary (issue 16), one run", "",
         f"Release builds on this machine: the function ({m['sizes']['function']:,} bytes) and "
         f"examples/bare_lambda.rs ({m['sizes']['bare']:,} bytes, a `lambda_http` handler answering 200, "
         "same profile). Init = spawn -> first `next`; spawns interleaved.", "",
         "| build, mode | init median (ms) | min / max (ms) | x floor | init CPU median (ms) | x floor | "
         "certificate files opened before the first `next` |",
         "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, inits in m["inits"].items():
        med = statistics.median(inits)
        c = m["cpu"][name]
        cmed = statistics.median(c) if c else float("nan")
        certs = m["certs"].get(name)
        L.append(f"| {name} | {ms(med)} | {ms(min(inits))} / {ms(max(inits))} | ×{med / floor:.2f} | "
                 f"{cmed / 1000:.2f} | ×{cmed / floor_cpu:.2f} | {'n/a' if certs is None else certs} |")
    dry, wf = m["answers"]["dry"], m["answers"]["workflow"]
    med = lambda r: statistics.median(r["warm"])
    L += ["", f"Warm answers ({dry['n_warm']} each): workflow mode {ms(med(wf))} ms median, p99 "
          f"{ms(pct(wf['warm'], 99))} ms; DRY_RUN {ms(med(dry))} ms, p99 {ms(pct(dry['warm'], 99))} ms: "
          f"×{med(wf) / med(dry):.2f}. The function's CPU per warm call: workflow mode "
          f"{wf['cpu_us'] or float('nan'):.0f} µs, DRY_RUN {dry['cpu_us'] or float('nan'):.0f} µs "
          f"({wf['sfn_req']:.2f} StartExecution per call); the rest of the difference is the "
          "StartExecution's round trip to the stand-in (bench/fake_sfn.py).", ""]
    L += ["| target | measured | met |", "| --- | --- | --- |"]
    L += [f"| {t} | {f} | {'yes' if ok else '**no**'} |" for t, f, ok in goal_rows(m)]
    L += ["", END]
    return L


def goal_rows(m):
    """(target, figure, met): init against the floor, the workflow answer against
    DRY_RUN's, the certificate files."""
    floor = statistics.median(m["inits"]["bare lambda_http (floor)"])
    worst = max(statistics.median(v) / floor for n, v in m["inits"].items() if n.startswith("function"))
    med = lambda r: statistics.median(r["warm"])  # noqa: E731
    dry, wf = m["answers"]["dry"], m["answers"]["workflow"]
    certs = [v for v in m["certs"].values() if v is not None]
    return [(f"init within {INIT_FACTOR:.0f}x the bare lambda_http binary (every mode; issue 16)", f"×{worst:.2f}",
             worst <= INIT_FACTOR),
            (f"workflow answer within {ANSWER_FACTOR:.0f}x DRY_RUN's (warm median; floor.py's containers; issue 16)",
             f"×{med(wf) / med(dry):.2f}", med(wf) <= ANSWER_FACTOR * med(dry)),
            ("no certificate file read before the first `next` (issue 16)",
             ", ".join(str(v) for v in m["certs"].values()), all(v == 0 for v in certs))]


def write(lines, path):
    text = open(path).read() if os.path.exists(path) else ""
    section = "\n".join(lines)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    open(path, "w").write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--spawns", type=int, default=SPAWNS)
    p.add_argument("--warm", type=int, default=300)
    p.add_argument("--out", default=os.path.join(HERE, "results.md"))
    a = p.parse_args()
    if not a.no_build:
        build()
    lines = report(measure(a.spawns, a.warm))
    print("\n".join(lines))
    write(lines, a.out)


if __name__ == "__main__":
    main()
