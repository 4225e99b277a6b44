"""Workflow mode (issue 11): the webhook's answer when it starts a Step Functions
execution instead of refreshing, and what the Step Functions client costs.

- The answer: run.py's main table has workflow-mode columns (STATE_MACHINE_ARN set,
  AWS_ENDPOINT_URL_SFN at bench/fake_sfn.py's StartExecution stand-in), one of them
  against a fake Tableau taking 3 s per request; `ratios()` compares them with
  DRY_RUN.
- The client: the release binary built without the `workflow` feature (no
  aws-sdk-sfn) beside the default one, stripped size and cold init (spawn -> first
  `next`) from interleaved spawns, in one run.
"""
import os
import shutil
import statistics

from harness import BINARY, WORKDIR, cargo, log, run

WITHOUT = os.path.join(WORKDIR, "dbt-tableau-refresh-no-workflow")
SIZE_LIMIT = 6.5e6
INIT_MARGIN = 0.15
SLOW_TABLEAU_MS = 3000
SLOW_MARGIN = 1.25


def build_without():
    """Builds the binary without the Step Functions client and keeps a copy; the
    default build (run after) takes target/release/ back. Cargo keeps both builds'
    artifacts, so after the first time each switch is only a copy."""
    cargo("build", "--release", "--locked", "-p", "dbt-tableau-refresh", "--no-default-features")
    os.makedirs(WORKDIR, exist_ok=True)
    shutil.copy2(BINARY, WITHOUT)


def measure_variants(services, workdir, spawns, plain_env, workflow_env):
    """Cold init of both builds, spawns interleaved so that load drifts hit both alike:
    the default build in workflow mode (its Step Functions client is built at init)
    and in the plain mode, the build without the client in the plain mode."""
    variants = [("with, workflow mode", BINARY, workflow_env),
                ("with, plain mode", BINARY, plain_env),
                ("without, plain mode", WITHOUT, plain_env)]
    log(f"==> Step Functions client: cold init with and without, {spawns} interleaved spawns each")
    inits = {name: [] for name, _, _ in variants}
    cpu = {name: [] for name, _, _ in variants}
    for i in range(spawns):
        for name, binary, env in variants:
            label = "variant-" + name.replace(", ", "-").replace(" ", "-") + f"-{i}"
            r = run(label, "rust", services, workdir, env, 0, binary=binary)
            inits[name].append(r["init"])
            if r["init_cpu_us"] is not None:
                cpu[name].append(r["init_cpu_us"])
    return {"sizes": {"with": os.path.getsize(BINARY), "without": os.path.getsize(WITHOUT)},
            "inits": inits, "init_cpu_us": cpu}


def init_difference(v):
    with_ = statistics.median(v["inits"]["with, workflow mode"])
    without = statistics.median(v["inits"]["without, plain mode"])
    return with_, without, with_ / without - 1


def report_variants(v, ms):
    L = ["### The Step Functions client: the release binary with and without it (issue 11)", ""]
    sizes = v["sizes"]
    L.append("| build | stripped x86-64 size | init median (ms) | init min / max (ms) | init CPU median (ms) | spawns |")
    L.append("| --- | --- | --- | --- | --- | --- |")
    for name, inits in v["inits"].items():
        size = sizes["without" if name.startswith("without") else "with"]
        cpu = v["init_cpu_us"][name]
        cpu_cell = f"{statistics.median(cpu) / 1000:.2f}" if cpu else "n/a"
        L.append(f"| {name} | {size / 1e6:.2f} MB ({size:,} bytes) | {ms(statistics.median(inits))} | "
                 f"{ms(min(inits))} / {ms(max(inits))} | {cpu_cell} | {len(inits)} |")
    with_, without, diff = init_difference(v)
    grow = sizes["with"] - sizes["without"]
    L.append("")
    cpu_with = statistics.median(v["init_cpu_us"]["with, workflow mode"] or [float("nan")])
    cpu_without = statistics.median(v["init_cpu_us"]["without, plain mode"] or [float("nan")])
    L.append(f"aws-sdk-sfn and src/workflow/sfn.rs add {grow:,} bytes ({grow / sizes['without'] * 100:+.1f} %); "
             f"cold init with the client, in workflow mode, {ms(with_)} ms against {ms(without)} ms without it "
             f"({diff * 100:+.1f} %); init CPU {cpu_with / 1000:.2f} against {cpu_without / 1000:.2f} ms "
             f"({(cpu_with / cpu_without - 1) * 100:+.1f} %: the same comparison, blind to the machine's load). "
             "Spawns interleave the three builds. The build without the client is "
             "`cargo build --release --no-default-features` (a STATE_MACHINE_ARN is then a configuration error).")
    L.append("")
    return L


def ratios(configs, ms, pct):
    """Lines comparing the workflow columns with DRY_RUN, and the targets."""
    by = {c["key"]: c for c in configs}
    dry, wf = by.get("rust-dry"), by.get("rust-workflow")
    if not (dry and wf):
        return [], []
    med = lambda c: statistics.median(c["warm"])
    p99 = lambda c: pct(c["warm"], 99)
    L = [f"Workflow mode / DRY_RUN, warm: median ×{med(wf) / med(dry):.2f} ({ms(med(wf))} / {ms(med(dry))} ms), "
         f"p99 ×{p99(wf) / p99(dry):.2f} ({ms(p99(wf))} / {ms(p99(dry))} ms); one StartExecution per call, "
         f"{wf['tableau_req']:.0f} Tableau requests."]
    if wf.get("cpu_us") and dry.get("cpu_us"):
        busy = wf["sfn_total"]["busy_seconds"] / max(wf["sfn_total"]["requests"], 1)
        L[0] += (f" Where the difference goes: the function's CPU per call is {wf['cpu_us']:.0f} µs against "
                 f"{dry['cpu_us']:.0f} µs, so the StartExecution (the SDK's request pipeline, SigV4, the JSON) "
                 f"costs it {wf['cpu_us'] - dry['cpu_us']:.0f} µs; the stand-in's Python takes {busy * 1e6:.0f} µs "
                 "from the request received to the answer ready; the rest is one more loopback round trip "
                 "between processes (two wake-ups, costly on this VM).")
    targets = [("workflow answer: warm median within 2x of DRY_RUN", f"×{med(wf) / med(dry):.2f}",
                med(wf) <= 2 * med(dry))]
    slow = by.get("rust-workflow-slow")
    if slow:
        L.append(f"With every Tableau request taking {SLOW_TABLEAU_MS / 1000:.0f} s, workflow mode answers in "
                 f"{ms(med(slow))} ms median, p99 {ms(p99(slow))} ms (×{med(slow) / med(wf):.2f} the answer with "
                 f"a prompt Tableau, ×{med(slow) / med(dry):.2f} DRY_RUN), "
                 f"{slow['tableau_total']['requests']} Tableau requests in the whole container.")
        # "Stays where it is": no Tableau request, and the same answer time within the noise.
        targets.append((f"workflow answer with a {SLOW_TABLEAU_MS / 1000:.0f} s Tableau: no Tableau call, "
                        "median within 25 % of a prompt Tableau's",
                        f"×{med(slow) / med(wf):.2f}, {slow['tableau_total']['requests']} requests",
                        med(slow) <= SLOW_MARGIN * med(wf) and slow["tableau_total"]["requests"] == 0))
    refresh_slow = by.get("rust-refresh-slow")
    if refresh_slow:
        L.append(f"The plain mode against the same slow Tableau: first answer after {ms(refresh_slow['first'])} ms "
                 f"({', '.join(sorted(refresh_slow['answers']))}): the answer's deadline, and a dbt retry.")
    moto = by.get("rust-workflow-moto")
    if moto:
        L.append(f"Against moto_server's StartExecution instead of the stand-in: {ms(med(moto))} ms median "
                 f"(moto answers in milliseconds and closes every connection): the stand-in's figures are the "
                 "function's own.")
    leaks = sum(c.get("sfn_total", {}).get("leaks", 0) for c in configs)
    L.append(f"Execution inputs carrying the PAT secret or the webhook key: {leaks}.")
    return L + [""], targets


def variant_targets(v):
    with_, without, diff = init_difference(v)
    return [("binary with the Step Functions client <= 6.5 MB (stripped x86-64)",
             f"{v['sizes']['with'] / 1e6:.2f} MB", v["sizes"]["with"] <= SIZE_LIMIT),
            ("cold init with the client within 15 % of the build without it", f"{diff * 100:+.1f} %",
             diff <= INIT_MARGIN)]
