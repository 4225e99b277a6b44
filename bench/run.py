#!/usr/bin/env python3
"""The benchmark runner (issues 6, 11, 12). Run it through scripts/bench.sh.

Starts moto_server (Secrets Manager), bench/fakes.py (fake Tableau, a counting
proxy in front of moto, a StartExecution stand-in), and for each configuration a
Lambda Runtime API emulator
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
Then: workflow mode's answer beside DRY_RUN (bench/workflow_bench.py), 1/20/200
targets under TABLEAU_MAX_CONCURRENCY (bench/concurrency.py), and in the full run
the binary without the Step Functions client (workflow_bench.py) and exposure
resolution at 1,000 / 5,000 / 20,000 models (bench/exposures_bench.py).
harness.py holds the shared machinery (services, Lambda environment, `run()`).
The answers' statuses are reported with the figures: a build whose Tableau client
is a stub answers 502 "failed" and makes no Tableau request, and says so.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import concurrency  # noqa: E402
import exposures_bench  # noqa: E402
import floor  # noqa: E402
import function_exposures  # noqa: E402
import workflow_bench  # noqa: E402
from harness import BINARY, TARGET_DIR, WORKDIR, Services, cargo, log, pct, run, targets, workflow_env  # noqa: E402

REFRESH_DELAY_MS = 50
TARGET_COUNTS = (1, 5, 20)


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
    for p in [BINARY] + sorted(glob.glob(os.path.join(TARGET_DIR, "lambda", "*", "bootstrap"))):
        if os.path.exists(p):
            shown = os.path.join("target", os.path.relpath(p, TARGET_DIR))  # whatever CARGO_TARGET_DIR is
            sizes.append((shown, os.path.getsize(p)))
    return sizes


def is_stub(r):
    """A refresh run whose Tableau client made no Tableau request at all."""
    return r["tableau_total"]["requests"] == 0 and any(a.endswith("failed") for a in r["answers"])


def fmt_answers(r):
    parts = [f"{k} ×{v}" for k, v in sorted(r["answers"].items())]
    res = [f"{k} ×{v}" for k, v in sorted(r["results"].items())]
    return "; ".join(parts) + (f" (targets: {'; '.join(res)})" if res else "")


def report(m, sizes, init_runs, configs, scaling, profiles, quick, sections=(), target_rows=()):
    """The results page: the main table, then `sections` (lines), then the targets."""
    L = []
    L.append(f"Machine: {m['nproc']} cores, {m['cpu']}, Linux {m['kernel']}; {m['rustc']}; "
             f"Python {m['python']}; load average at start {' '.join(m['load'])}"
             + (f", at the end {' '.join(m['load_end'])}" if m.get("load_end") else "")
             + f"; {m['date']}" + ("; **quick mode**" if quick else ""))
    if m.get("skipped"):
        L.append("")
        L.append("Left out of this run: " + "; ".join(m["skipped"]) + ".")
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
    row("init CPU until the first `next`, median of spawns (ms)",
        lambda c: f"{statistics.median(c['init_cpu_runs']) / 1000:.2f}" if c.get("init_cpu_runs") else "n/a")
    row("first invocation (ms)", lambda c: ms(c["first"]))
    row("first invocation: Secrets Manager calls, Tableau requests, new connections, StartExecution calls",
        lambda c: f"{c['first_secrets_req']}, {c['first_tableau']['requests']}, {c['first_tableau']['connections']}, "
                  f"{c['first_sfn_req']}")
    row("warm median (ms)", lambda c: ms(statistics.median(c["warm"])))
    row("warm p99 (ms)", lambda c: ms(pct(c["warm"], 99)))
    row("warm invocations", lambda c: str(c["n_warm"]))
    row("CPU time per warm call, the process's threads (µs)",
        lambda c: f"{c['cpu_us']:.0f}" if c.get("cpu_us") is not None else "n/a")
    row("peak RSS, VmHWM after the warm calls (MB)", lambda c: f"{c['rss_kb'] / 1024:.1f}" if c["rss_kb"] else "n/a")
    row("Secrets Manager calls per warm call", lambda c: f"{c['secrets_req']:.2f}")
    row("Tableau requests per warm call", lambda c: f"{c['tableau_req']:.2f}")
    row("new Tableau connections per warm call", lambda c: f"{c['tableau_conn']:.2f}")
    row("StartExecution calls per warm call", lambda c: f"{c['sfn_req']:.2f}")
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
    L += list(sections)
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
    if target_rows:
        L += ["", "### Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
        L += [f"| {t} | {f} | {'yes' if ok else '**no**'} |" for t, f, ok in target_rows]
    return "\n".join(L).rstrip() + "\n"


def issue6_targets(configs, init_runs, sizes):
    by = {c["key"]: c for c in configs}
    out = []
    if sizes:
        out.append(("binary <= 6 MB (issue 6, before the workflow and exposures)", f"{sizes[0][1] / 1e6:.2f} MB",
                    sizes[0][1] <= 6e6))
    dry, one = by.get("rust-dry"), by.get("rust-refresh")
    if dry and one:
        init = statistics.median(init_runs.get("rust-refresh") or [one["init"]])
        out += [("init <= 15 ms (issue 6)", f"{ms(init)} ms", init <= 0.015),
                ("warm median <= 2 ms, 1 target (issue 6)", f"{ms(statistics.median(one['warm']))} ms",
                 statistics.median(one["warm"]) <= 0.002),
                ("peak RSS <= 20 MB (issue 6)", f"{one['rss_kb'] / 1024:.1f} MB", one["rss_kb"] <= 20 * 1024),
                ("no Secrets Manager call on a warm call (issue 6)", f"{one['secrets_req']:.2f}",
                 one["secrets_req"] == 0 and dry["secrets_req"] == 0)]
    return out


def issue16(workdir, exposures, with_floor, warm):
    """Issue 16's sections, measured one after the other in this run: exposure
    resolution (against the Python reference, then at full CPU and at 128 MB's CPU
    share, from files and over HTTP, light and heavy run_results; the function
    itself judging 20,000 models in plain mode, bench/function_exposures.py) and cold start
    against a bare lambda_http binary (bench/floor.py)."""
    out = {"sections": [], "targets": [], "failures": [], "resolved": [], "share": [], "floor": None}
    if exposures:
        resolved = exposures_bench.measure(workdir)
        out["resolved"] = resolved
        out["sections"] += exposures_bench.report(resolved)
        out["targets"] += exposures_bench.targets(resolved)
        at_share = exposures_bench.measure_share(workdir)
        out["share"] = at_share
        out["sections"] += exposures_bench.report_share(at_share)
        out["targets"] += exposures_bench.share_targets(at_share)
        out["failures"] += [f"exposures, {e['models']} models: the Rust resolver decides differently from the "
                            "reference" for e in resolved if not e["check_ok"] or e["differ"]]
        fn = function_exposures.measure()
        out["function"] = fn
        out["sections"] += function_exposures.report(fn)
        out["targets"] += function_exposures.goal_rows(fn)
    if with_floor:
        f = floor.measure(floor.SPAWNS, warm)
        out["floor"] = f
        out["sections"] += floor.report(f) + [""]
        out["targets"] += floor.goal_rows(f)
    return out


def only_issue16(a, warm):
    """--only-issue16: builds what the sections run, measures them in one run and
    writes them (with the machine and its load) into --out between the
    `<!-- issue16 -->` markers, the rest of the page left as it was."""
    if not a.no_build:
        cargo("build", "--release", "--locked", "-p", "dbt-tableau-refresh", "--example", "bare_lambda")
        cargo("build", "--release", "--locked", "-p", "dbt-tableau-refresh", "--bin", "dbt-tableau-refresh")
        cargo("build", "--release", "--locked", "-p", "dbt-tableau-engine", "--example", "resolve_bench")
    os.makedirs(WORKDIR, exist_ok=True)
    m = machine()
    extra = issue16(WORKDIR, True, True, warm)
    m_end = open("/proc/loadavg").read().split()[:3]
    begin, end = "<!-- issue16 -->", "<!-- /issue16 -->"
    L = [begin, "## Issue 16: production size, one run (`bench/run.py --only-issue16`)", "",
         f"Machine: {m['nproc']} cores, {m['cpu']}, Linux {m['kernel']}; {m['rustc']}; Python {m['python']}; "
         f"load average at start {' '.join(m['load'])}, at the end {' '.join(m_end)}; {m['date']}. "
         f"`target/{os.path.relpath(BINARY, TARGET_DIR)}`: {os.path.getsize(BINARY):,} bytes.", ""]
    L += extra["sections"]
    L += ["### Targets (issue 16)", "", "| target | measured | met |", "| --- | --- | --- |"]
    L += [f"| {t} | {f} | {'yes' if ok else '**no**'} |" for t, f, ok in extra["targets"]]
    L += ["", end]
    section = "\n".join(L)
    text = open(a.out).read() if os.path.exists(a.out) else "# Benchmark results\n"
    # floor.py's own block, if a standalone run left one, is part of this section now.
    if floor.BEGIN in text and floor.END in text and begin not in text:
        text = text[:text.index(floor.BEGIN)] + text[text.index(floor.END) + len(floor.END):]
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    print(section)
    with open(a.out, "w") as f:
        f.write(text)
    with open(os.path.join(WORKDIR, "issue16.json"), "w") as f:
        json.dump({"machine": m, "load_at_end": m_end, **{k: v for k, v in extra.items() if k != "sections"}},
                  f, indent=1, default=str)
    log(f"written {os.path.relpath(a.out)} and {os.path.relpath(os.path.join(WORKDIR, 'issue16.json'))}")
    for failure in extra["failures"]:
        log(f"FAILED: {failure}")
    return 1 if extra["failures"] else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="few invocations; no Python reference, no build without the Step Functions client, "
                        "no exposure resolution")
    p.add_argument("--no-build", action="store_true",
                   help="don't run cargo build (uses the binaries there are; the variant without the Step "
                        "Functions client only if target/bench/ has one)")
    p.add_argument("--warm", type=int, help="warm invocations per configuration (default 300; quick 20)")
    p.add_argument("--spawns", type=int, help="spawns for the init median (default 10; quick 3)")
    p.add_argument("--no-python", action="store_true", help="skip the Python reference")
    p.add_argument("--no-variant", action="store_true", help="skip the build without the Step Functions client")
    p.add_argument("--no-exposures", action="store_true", help="skip exposure resolution (1,000-20,000 models)")
    p.add_argument("--no-floor", action="store_true",
                   help="skip cold start against a bare lambda_http binary (bench/floor.py)")
    p.add_argument("--only-issue16", action="store_true",
                   help="only issue 16's sections, side by side: exposures at full CPU and at 128 MB's share, "
                        "cold start against the floor (no main table; writes --out)")
    p.add_argument("--profile", action="append", default=[], metavar="NAME=PATH",
                   help="also measure another build of the binary (size, init, dry-run warm)")
    p.add_argument("--out", default=os.path.join(HERE, "results.md"))
    a = p.parse_args()
    warm = a.warm or (20 if a.quick else 300)
    spawns = a.spawns or (3 if a.quick else 10)
    if a.only_issue16:
        return only_issue16(a, a.warm or 300)
    python = not (a.quick or a.no_python)
    variant = not (a.quick or a.no_variant)
    exposures = not (a.quick or a.no_exposures)
    with_floor = not (a.quick or a.no_floor)
    skipped = []
    if python:
        try:
            import awslambdaric  # noqa: F401
        except ImportError:
            log("awslambdaric is not installed: skipping the Python reference")
            python = False
            skipped.append("the Python reference (awslambdaric is not installed in this environment)")

    if not a.no_build:
        if variant:
            workflow_bench.build_without()
        if with_floor:
            # The example first: the binary built last is the deployed one (floor.build).
            cargo("build", "--release", "--locked", "-p", "dbt-tableau-refresh", "--example", "bare_lambda")
        cargo("build", "--release", "--locked", "-p", "dbt-tableau-refresh")
        if exposures:
            cargo("build", "--release", "--locked", "-p", "dbt-tableau-engine", "--example", "resolve_bench")
    if variant and not os.path.exists(workflow_bench.WITHOUT):
        log(f"no {workflow_bench.WITHOUT}: skipping the build without the Step Functions client")
        variant = False
    if exposures and not os.path.exists(exposures_bench.EXAMPLE):
        log(f"no {exposures_bench.EXAMPLE}: skipping exposure resolution")
        exposures = False
    if with_floor and not os.path.exists(floor.BARE):
        log(f"no {floor.BARE}: skipping cold start against the floor")
        with_floor = False
    workdir = WORKDIR
    os.makedirs(workdir, exist_ok=True)
    m = machine()
    sizes = binary_sizes()
    services = Services(workdir)
    slow = {"request_delay_ms": workflow_bench.SLOW_TABLEAU_MS}
    sections, target_rows, failures = [], [], []
    try:
        real = {"REFRESH_TARGETS": targets(1), "DRY_RUN": "false"}
        dry = {"REFRESH_TARGETS": targets(1), "DRY_RUN": "true"}
        flow = dict(real, **workflow_env(services))
        # (key, title, runtime, env, fake Tableau, warm calls, spawns)
        plan = [("rust-dry", "Rust, DRY_RUN=true", "rust", dry, None, warm, spawns),
                ("rust-refresh", "Rust, 1 target", "rust", real, None, warm, spawns),
                ("rust-workflow", "Rust, workflow mode", "rust", flow, None, warm, spawns),
                ("rust-workflow-slow", "Rust, workflow mode, Tableau 3 s/request", "rust", flow, slow, warm, 1)]
        if not a.quick:
            plan += [("rust-workflow-moto", "Rust, workflow mode, moto StartExecution", "rust",
                      dict(real, **workflow_env(services, moto=True)), None, min(warm, 100), 1),
                     ("rust-refresh-slow", "Rust, 1 target, Tableau 3 s/request", "rust", real, slow, 1, 1)]
        if python:
            n_py = a.warm or 100
            plan += [("python-dry", "Python ref, DRY_RUN=true", "python", dry, None, n_py, spawns),
                     ("python-refresh", "Python ref, 1 target", "python", real, None, n_py, spawns)]
        plan.append(("echo", "harness floor (echo runtime)", "echo", dry, None, warm, 1))
        configs, init_runs = [], {}
        for key, title, runtime, env, fake, n_warm, n_spawns in plan:
            log(f"==> {title}: {n_warm} warm invocations")
            r = run(key, runtime, services, workdir, env, n_warm, fake=fake)
            r["key"], r["title"] = key, title
            configs.append(r)
            spawned = [r] + [run(f"{key}-spawn{i}", runtime, services, workdir, env, 0, fake=fake)
                             for i in range(n_spawns - 1)]
            if n_spawns > 1:
                init_runs[key] = [x["init"] for x in spawned]
            r["init_cpu_runs"] = [x["init_cpu_us"] for x in spawned if x["init_cpu_us"] is not None]
        lines, rows = workflow_bench.ratios(configs, ms, pct)
        sections += lines
        target_rows += issue6_targets(configs, init_runs, sizes) + rows
        for c in configs:
            if c["key"].startswith("rust-workflow") and c["tableau_total"]["requests"]:
                failures.append(f"{c['title']}: {c['tableau_total']['requests']} Tableau requests in workflow mode")
            if c["sfn_total"]["leaks"]:
                failures.append(f"{c['title']}: {c['sfn_total']['leaks']} execution inputs carry a secret")
        scaling = []
        runtimes = [("Rust", "rust")] + ([("Python ref", "python")] if python else [])
        for title, runtime in runtimes:
            runs = []
            for n in TARGET_COUNTS:
                n_warm = 3 if a.quick or runtime == "python" else 10
                log(f"==> {title}: {n} targets, {n_warm} warm invocations, refresh delay {REFRESH_DELAY_MS} ms")
                runs.append(run(f"{runtime}-targets-{n}", runtime, services, workdir,
                                {"REFRESH_TARGETS": targets(n), "DRY_RUN": "false"}, n_warm,
                                fake={"refresh_delay_ms": REFRESH_DELAY_MS}))
            scaling.append((title, runs))
        bounded = concurrency.measure(services, workdir, 0 if a.quick else 3)
        sections += concurrency.report(bounded, ms, fmt_answers)
        failures += concurrency.violations(bounded)
        target_rows.append((f"at most {concurrency.LIMIT} Tableau requests in flight (1 / 20 / 200 targets)",
                            " / ".join(str(r["tableau_total"]["max_inflight"]) for _, r in bounded),
                            not concurrency.violations(bounded)))
        if variant:
            v = workflow_bench.measure_variants(services, workdir, max(spawns, 30), dry, flow)
            sections += workflow_bench.report_variants(v, ms)
            target_rows += workflow_bench.variant_targets(v)
        elif sizes:
            target_rows.append(("binary with the Step Functions client <= 6.5 MB (stripped x86-64)",
                                f"{sizes[0][1] / 1e6:.2f} MB", sizes[0][1] <= workflow_bench.SIZE_LIMIT))
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
    extra = issue16(workdir, exposures, with_floor, warm)
    sections += extra["sections"]
    target_rows += extra["targets"]
    failures += extra["failures"]
    resolved = extra["resolved"]
    m["load_end"] = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else []
    m["skipped"] = skipped
    text = "# Benchmark results\n\n" + report(m, sizes, init_runs, configs, scaling, profiles, a.quick,
                                                sections, target_rows)
    print(text)
    with open(a.out, "w") as f:
        f.write(text)
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump({"machine": m, "configs": configs, "init_runs": init_runs,
                   "scaling": [(t, rs) for t, rs in scaling], "concurrency": bounded,
                   "exposures": resolved}, f, indent=1, default=str)
    log(f"written {os.path.relpath(a.out)} and {os.path.relpath(os.path.join(workdir, 'results.json'))}")
    for failure in failures:
        log(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
