#!/usr/bin/env python3
"""Issue 13's benchmark: refresh-and-wait of the same three targets (two workbooks and
a data source) against the same fake Tableau, side by side in one run:

  dbt-tableau   the release binary: `dbt-tableau refresh --wait --json --workbook A
                --workbook B --datasource C --project Bench`
  TSC           `bench/tsc_refresh.py`: tableauserverclient as its documentation
                shows it, under this interpreter (`bench/requirements.txt`)

Each run is its own process, timed from spawn to exit, its peak RSS from GNU time's
%M (for Python that includes the interpreter: that is what a CI step pays). Not from
this process's wait4(): a child spawned from Python inherits the spawner's peak RSS
(Linux keeps the high-water mark of the memory that exec replaces, and subprocess
uses vfork), so `/bin/true` would read as 14 MB; under /usr/bin/time it reads 1 MB. The fake
(`fake_tableau_xml.py`, in this process) finishes every job `--job-seconds` after its
refresh and records when the first refresh came and when the client was first told
that the last job had finished, so each run splits into the time spent waiting on
Tableau's jobs and the client's own time around it. Both clients poll from 0.5 s
(tableauserverclient x1.4 up to 30 s, hard-coded; dbt-tableau x1.5, given
POLL_INITIAL_SECONDS=0.5 POLL_MAX_SECONDS=30).

    python3 bench/cli_vs_tsc.py [--runs 5] [--job-seconds 2] [--no-build] [--out bench/cli_results.md]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from fake_tableau_xml import PAT_NAME, PAT_SECRET, PROJECT, SITE_CONTENT_URL, FakeTableau  # noqa: E402

WORKBOOKS = ("Sales Overview", "Inventory")
DATASOURCE = "Orders"
POLLS = ("Polls: tableauserverclient waits 0.5 s x1.4 (up to 30 s) between checks of one job, the jobs one "
         "after the other; dbt-tableau 0.5 s x1.5 (POLL_INITIAL_SECONDS=0.5, POLL_MAX_SECONDS=30), all running "
         "jobs per check.\n")
POLL = {"POLL_INITIAL_SECONDS": "0.5", "POLL_MAX_SECONDS": "30"}


def commands(binary):
    ours = [str(binary), "refresh", "--wait", "--json", "--project", PROJECT["name"]]
    for name in WORKBOOKS:
        ours += ["--workbook", name]
    ours += ["--datasource", DATASOURCE]
    tsc = [sys.executable, str(HERE / "tsc_refresh.py"), PROJECT["name"]]
    tsc += [f"workbook:{n}" for n in WORKBOOKS] + [f"datasource:{DATASOURCE}"]
    return {"dbt-tableau": ours, "TSC": tsc}


def timed(argv, rss_file):
    """`argv` under GNU time, which writes the child's peak RSS (KB) to `rss_file`."""
    return ["/usr/bin/time", "-f", "%M", "-o", rss_file, *argv]


def peak_mb(rss_file):
    return int(Path(rss_file).read_text().split()[-1]) / 1024


def run_once(fake, argv, env, log):
    """One refresh-and-wait in a fresh process: its figures, or an exception."""
    fake.record.reset()
    start = time.monotonic()
    proc = subprocess.run(timed(argv, log.name + ".rss"), env=env, stdout=log, stderr=log)
    wall = time.monotonic() - start
    seen = fake.record.snapshot()
    if proc.returncode != 0 or not seen["all_seen_done"] or seen["jobs"] != 3 or fake.tokens:
        raise RuntimeError(f"{argv[0]}: exit {proc.returncode}, fake saw {seen}, open sessions {len(fake.tokens)}")
    waiting = seen["last_seen_done"] - seen["first_refresh"]
    return {"wall": wall, "waiting": waiting, "own": wall - waiting, "outside_job": wall - fake.job_seconds,
            "overshoot": waiting - fake.job_seconds, "rss_mb": peak_mb(log.name + ".rss"),
            "requests": seen["requests"], "signins": seen["signins"], "polls": seen["polls"]}


def measure(fake, cmds, runs, logdir):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "TABLEAU_SITE_URL": f"http://127.0.0.1:{fake.port}", "TABLEAU_SITE_NAME": SITE_CONTENT_URL,
           "TABLEAU_API_TOKEN_NAME": PAT_NAME, "TABLEAU_API_TOKEN_SECRET": PAT_SECRET, **POLL}
    results = {side: [] for side in cmds}
    # One unmeasured run each first (page cache), then the sides take turns.
    for i in range(runs + 1):
        for side, argv in cmds.items():
            with open(logdir / f"cli_vs_tsc-{side}.log", "a") as log:
                figures = run_once(fake, argv, env, log)
            if i:
                results[side].append(figures)
    return results


def floors(logdir):
    """(seconds, MB) of `/bin/true` (what the measuring costs) and of `python3 -c
    'import tableauserverclient'` (the part of the reference that is Python starting)."""
    out = []
    for argv in (["/bin/true"], [sys.executable, "-c", "import tableauserverclient"]):
        rss = str(logdir / "cli_vs_tsc-floor.rss")
        start = time.monotonic()
        subprocess.run(timed(argv, rss), check=True)
        out.append((time.monotonic() - start, peak_mb(rss)))
    return out


def table(results, job_seconds, runs):
    med = {side: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for side, rs in results.items()}
    ours, ref = med["dbt-tableau"], med["TSC"]
    rows = [
        ("wall time, spawn to exit (s)", "wall", "{:.3f}"),
        (f"wall time minus the job time ({job_seconds:g} s) (s)", "outside_job", "{:.3f}"),
        ("of which waiting on jobs: first refresh to 'all finished' answer (s)", "waiting", "{:.3f}"),
        ("poll overshoot: that wait minus the job time (s)", "overshoot", "{:.3f}"),
        ("client's own time: wall minus that wait (s)", "own", "{:.3f}"),
        ("peak RSS (MB)", "rss_mb", "{:.1f}"),
        ("requests to Tableau / sign-ins / Query Job", None, None),
    ]
    out = [f"Refresh-and-wait of 2 workbooks and 1 data source, each job finishing {job_seconds:g} s after its "
           f"refresh; median of {runs} runs per side, sides taking turns.", "",
           "| figure | dbt-tableau | tableauserverclient | TSC / dbt-tableau |", "| --- | --- | --- | --- |"]
    for label, key, fmt in rows:
        if key is None:
            out.append(f"| {label} | {ours['requests']:.0f} / {ours['signins']:.0f} / {ours['polls']:.0f} | "
                       f"{ref['requests']:.0f} / {ref['signins']:.0f} / {ref['polls']:.0f} | |")
            continue
        ratio = f"x{ref[key] / ours[key]:.1f}" if ours[key] > 0 and key not in ("waiting", "overshoot") else ""
        out.append(f"| {label} | {fmt.format(ours[key])} | {fmt.format(ref[key])} | {ratio} |")
    own, rss = ref["own"] / ours["own"], ref["rss_mb"] / ours["rss_mb"]
    out += ["", f"Targets (issue 13): >= 5x less wall time outside the job time: client's own time x{own:.1f} "
            f"({'met' if own >= 5 else 'NOT met'}), wall minus job time x{ref['outside_job'] / ours['outside_job']:.1f}; "
            f">= 5x less memory: x{rss:.1f} ({'met' if rss >= 5 else 'NOT met'}).",
            ]
    return "\n".join(out), med


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--job-seconds", default="2,0.4",
                   help="comma-separated job times, one table each (0.4: both clients' first check, at 0.5 s, "
                        "sees the jobs finished, so the poll schedules don't differ)")
    p.add_argument("--no-build", action="store_true", help="use the binary already built")
    p.add_argument("--out", default=str(HERE / "cli_results.md"))
    a = p.parse_args()
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    if not target.is_absolute():
        target = ROOT / target
    if not Path("/usr/bin/time").exists():
        sys.exit("cli_vs_tsc.py needs GNU time (/usr/bin/time; apt-get install time) for peak RSS")
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "dbt-tableau"],
                       cwd=ROOT, check=True)
    binary = target / "release" / "dbt-tableau"
    logdir = target / "bench"
    logdir.mkdir(parents=True, exist_ok=True)
    sections, record = [], {}
    for job_seconds in [float(j) for j in a.job_seconds.split(",")]:
        fake = FakeTableau(job_seconds).start()
        try:
            results = measure(fake, commands(binary), a.runs, logdir)
        finally:
            fake.stop()
        text, med = table(results, job_seconds, a.runs)
        sections.append(text)
        record[str(job_seconds)] = {"runs": results, "median": med}
    floor = floors(logdir)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = os.getloadavg()[0]
    doc = (f"# dbt-tableau vs tableauserverclient (issue 13)\n\n{stamp}, load average {load:.1f}, "
           f"`bench/cli_vs_tsc.py --runs {a.runs} --job-seconds {a.job_seconds}`.\n\n" + "\n\n".join(sections)
           + f"\n\nFloors: `/bin/true` {floor[0][0]:.3f} s, {floor[0][1]:.1f} MB; `python3 -c 'import "
           f"tableauserverclient'` {floor[1][0]:.3f} s, {floor[1][1]:.1f} MB.\n" + POLLS)
    Path(a.out).write_text(doc)
    (logdir / "cli_vs_tsc.json").write_text(json.dumps(record, indent=1))
    print(doc)


if __name__ == "__main__":
    sys.exit(main())
