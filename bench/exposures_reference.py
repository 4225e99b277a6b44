#!/usr/bin/env python3
"""The exposure decision written plainly over json.load: the reference the Rust
resolver (src/exposures/) is compared with, for results and for memory.

Usage:
    bench/exposures_reference.py MANIFEST RUN_RESULTS [RUN_RESULTS ...] [--rss]

RUN_RESULTS are a run's steps in order (a later step's result for a node wins);
steps written by commands that only compile or list (run_results' args.which is
generate, compile, list, ls, parse, show, ...) are ignored. Prints the decision as
JSON on stdout; with --rss, also the peak RSS on stderr as `peak_rss_kib N` (the
kernel's VmHWM of this process; ru_maxrss where there is no /proc: it also counts
the memory of the process that started this one before its exec).

The rule (CONTRACT.md, "Targets from dbt exposures"):
- an exposure names Tableau items in config.meta.tableau or meta.tableau (one
  object or a list of objects: workbook / datasource with optional project, or
  workbook_id / datasource_id); without either it is ignored; a malformed one
  fails that exposure only;
- upstream = every node reachable through parent_map from the exposure
  (the walk is memoised per node, see upstream_summaries);
- fresh: some upstream model, seed or snapshot ended `success`;
- blocked: some upstream node ended `error` or `skipped`, or a test (data test or
  unit test) on an upstream node ended `fail` or `error` (`warn` blocks nothing);
- fresh and not blocked: its items are refreshed (each item once); blocked: its
  items are skipped, naming the blocking nodes; neither: untouched.
Exposures' own entries in run_results (dbt build lists them as no-op/skipped)
take no part: they are not upstream of anything.
Only the standard library is used.
"""

import json
import os
import resource
import sys

NON_EXECUTING = {"generate", "compile", "list", "ls", "parse", "show", "debug", "deps", "clean"}
BUILT = ("model.", "seed.", "snapshot.")
TESTS = ("test.", "unit_test.")
BLOCKING_NODE = {"error", "skipped"}
BLOCKING_TEST = {"fail", "error"}
ITEM_KEYS = {"workbook": "workbook", "datasource": "datasource", "flow": "flow"}
ID_KEYS = {"workbook_id": "workbook", "datasource_id": "datasource", "flow_id": "flow"}


def merged_statuses(paths):
    """unique_id -> final status over the executing steps; and the steps used/ignored."""
    statuses, steps = {}, []
    for path in paths:
        with open(path) as f:
            results = json.load(f)
        which = results.get("args", {}).get("which")
        counted = which not in NON_EXECUTING
        steps.append({"file": os.path.basename(path), "which": which, "counted": counted})
        if counted:
            for result in results.get("results", []):
                statuses[result["unique_id"]] = result["status"]
    return statuses, steps


def parse_item(value, at):
    """One object of the target vocabulary -> item dict, or raises ValueError."""
    if not isinstance(value, dict):
        raise ValueError(f"{at}: expected an object, got {type(value).__name__}")
    unknown = sorted(set(value) - {"project", "incremental", *ITEM_KEYS, *ID_KEYS})
    if unknown:
        raise ValueError(f"{at}: unknown field(s) {', '.join(unknown)}")
    named = [k for k in (*ITEM_KEYS, *ID_KEYS) if k in value]
    if len(named) != 1:
        raise ValueError(
            f"{at}: needs exactly one of workbook, datasource, flow, workbook_id, datasource_id, flow_id"
            + (f" (got {', '.join(named)})" if named else "")
        )
    key = named[0]
    text = value[key]
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{at}.{key}: expected a non-empty string")
    project = value.get("project")
    kind = ID_KEYS.get(key) or ITEM_KEYS[key]
    # "incremental": true asks for an incremental extract refresh; flows have none.
    incremental = value.get("incremental")
    if incremental not in (None, True, False):
        raise ValueError(f"{at}.incremental: expected true or false")
    if incremental and kind == "flow":
        raise ValueError(f"{at}.incremental: a flow has no incremental refresh")
    extra = {"incremental": True} if incremental else {}
    if key in ID_KEYS:
        if "project" in value:
            raise ValueError(f"{at}: project goes with a name, not with {key}")
        return {"kind": kind, "name": None, "project": None, "id": text, **extra}
    if project is not None and (not isinstance(project, str) or not project.strip()):
        raise ValueError(f"{at}.project: expected a non-empty string")
    return {"kind": kind, "name": text, "project": project, "id": None, **extra}


def exposure_items(exposure):
    """None (not about Tableau), or the list of items; raises ValueError if malformed."""
    config_meta = (exposure.get("config") or {}).get("meta") or {}
    meta = exposure.get("meta") or {}
    if "tableau" in config_meta:
        value, at = config_meta["tableau"], "config.meta.tableau"
    elif "tableau" in meta:
        value, at = meta["tableau"], "meta.tableau"
    else:
        return None
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{at}: an empty list names no item")
        return [parse_item(v, f"{at}[{i}]") for i, v in enumerate(value)]
    return [parse_item(value, at)]


def upstream_summaries(parent_map, child_map, statuses):
    """node -> (fresh, blockers) over everything upstream of it (itself excluded):
    fresh = some upstream model/seed/snapshot ended success; blockers = {node:
    status} of upstream nodes that ended error/skipped and of failed tests on
    upstream nodes. Computed once per node (memo, iterative: chains run deep), so
    each exposure costs its direct parents only."""
    memo = {}

    def own(node):
        """What node itself adds for the nodes below it."""
        fresh = node.startswith(BUILT) and statuses.get(node) == "success"
        blockers = {}
        if statuses.get(node) in BLOCKING_NODE:
            blockers[node] = statuses[node]
        for t in child_map.get(node, []):
            if t.startswith(TESTS) and statuses.get(t) in BLOCKING_TEST:
                blockers[t] = statuses[t]
        return fresh, blockers

    def summary(start):
        stack = [start]
        while stack:
            node = stack[-1]
            if node in memo:
                stack.pop()
                continue
            todo = [p for p in parent_map.get(node, []) if p not in memo]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            fresh, blockers = False, {}
            for p in parent_map.get(node, []):
                p_fresh, p_blockers = memo[p]
                o_fresh, o_blockers = own(p)
                fresh = fresh or p_fresh or o_fresh
                blockers.update(p_blockers)
                blockers.update(o_blockers)
            memo[node] = (fresh, blockers)
        return memo[start]

    return summary


def item_key(item):
    return (item["kind"], item["id"]) if item["id"] else (item["kind"], item["name"], item["project"])


def decide(manifest_path, run_results_paths):
    statuses, steps = merged_statuses(run_results_paths)
    with open(manifest_path) as f:
        manifest = json.load(f)
    summary = upstream_summaries(manifest["parent_map"], manifest["child_map"], statuses)

    refresh, order = {}, []
    skipped, malformed, untouched, ignored = [], [], [], []
    for uid in sorted(manifest["exposures"]):
        try:
            items = exposure_items(manifest["exposures"][uid])
        except ValueError as e:
            malformed.append({"exposure": uid, "error": str(e)})
            continue
        if items is None:
            ignored.append(uid)
            continue
        fresh, blockers = summary(uid)
        if blockers:
            by = [{"node": n, "status": s} for n, s in sorted(blockers.items())]
            skipped.append({
                "exposure": uid,
                "items": items,
                "blocked_by": by,
                "error": "blocked by " + ", ".join(f"{b['node']} ({b['status']})" for b in by),
            })
        elif fresh:
            for item in items:
                key = item_key(item)
                if key not in refresh:
                    refresh[key] = dict(item, exposures=[])
                    order.append(key)
                refresh[key]["exposures"].append(uid)
        else:
            untouched.append(uid)
    return {
        "steps": steps,
        "refresh": [refresh[k] for k in order],
        "skipped": skipped,
        "malformed": malformed,
        "untouched": untouched,
        "ignored": ignored,
    }


def peak_rss_kib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss     # KiB on Linux


def main(argv):
    rss = "--rss" in argv
    args = [a for a in argv if a != "--rss"]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    decision = decide(args[0], args[1:])
    json.dump(decision, sys.stdout, indent=2)
    print()
    if rss:
        print(f"peak_rss_kib {peak_rss_kib()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
