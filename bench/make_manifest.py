#!/usr/bin/env python3
"""Writes a synthetic but schema-realistic dbt manifest.json + run_results.json of a
`dbt build` over N models, for benchmarking the exposure resolver on big inputs.

Usage:
    bench/make_manifest.py --models N [--exposures E] [--seed S] [--out DIR] [--heavy]
        [--template tests/artifacts/build/manifest.json]

Writes DIR/manifest.json and DIR/run_results.json (default DIR: target/bench/manifest-N).

Every node is a copy of a real node of the template (the committed dbt 1.11 build
artifacts) with its fields filled in, so keys, nesting and size per node are what
dbt writes: models carry raw_code, compiled_code, documented columns, config;
tests carry test_metadata and compiled SQL; the template's ~500 macros are kept.
Top-level keys keep dbt's order (exposures before parent_map, as a streaming
reader meets them). The same arguments give the same files.

The graph: sources and seeds feed staging models; every later model depends on 1-4
earlier models, mostly recent ones, so dependencies chain deep. Each model has 0-3
data tests (a few relationships tests with two parents) and some unit tests.
Statuses follow `dbt build`: a few models error, a few error-severity tests fail
and a few warn-severity tests warn; the children of an errored model or of a model
with a failing test are skipped, as are tests of skipped models. Exposures name
Tableau items in every meta.tableau form (some without it, some malformed); dbt
1.11 lists exposures in run_results too (no-op, or skipped below a failure).
--heavy: each executed result's compiled_code is the SQL dbt >= 1.8 writes for a
model with its ephemeral parents injected as CTEs (the node's compiled SQL and
three injected CTEs), so run_results weighs what a large real project's does
(82 MB at 20,000 models, against 37 MB without); the manifest is unchanged.
Only the standard library is used.
"""

import argparse
import copy
import json
import os
import random
import sys

from manifest_nodes import (ADJ, COLS, NOUN, PKG, Templates, base_fields, columns, relation, sql_for,
                            tableau_meta)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, required=True)
    p.add_argument("--exposures", type=int, default=300)
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--out")
    p.add_argument("--heavy", action="store_true",
                   help="compiled SQL with injected CTEs in every executed result")
    p.add_argument("--template", default=os.path.join(ROOT, "tests/artifacts/build/manifest.json"))
    p.add_argument("--template-results", default=None,
                   help="run_results.json of the template run (default: beside --template)")
    return p.parse_args(argv)


class Project:
    """The synthetic project: nodes by kind, parent_map, tests per node, run order."""

    def __init__(self, t, rng, n):
        self.t, self.rng, self.n = t, rng, n
        self.nodes, self.sources, self.exposures, self.unit_tests = {}, {}, {}, {}
        self.parents = {}       # uid -> direct parents (parent_map)
        self.tests_of = {}      # uid -> tests on it (data and unit tests)
        self.order = []         # dbt build's execution order (parents first)
        self.models, self.seeds, self.snapshots = [], [], []
        self.planned_error, self.planned_fail, self.planned_warn = set(), set(), set()
        self.status = {}

    def add(self, table, uid, node, parents, run=True):
        table[uid] = node
        self.parents[uid] = parents
        if run:
            self.order.append(uid)

    def add_sources_seeds_snapshots(self):
        t, rng, n = self.t, self.rng, self.n
        for i in range(max(3, n // 100)):
            name, uid = f"table_{i}", f"source.{PKG}.raw.table_{i}"
            s = copy.deepcopy(t.source)
            base_fields(s, name, uid, "source", "models/sources.yml", [PKG, "raw", name])
            s.update(source_name="raw", identifier=name, relation_name=relation("raw", name), schema="raw",
                     columns=columns(t, rng, rng.sample(COLS, 5)))
            self.add(self.sources, uid, s, [], run=False)
        for i in range(max(2, n // 50)):
            name, uid = f"seed_{i}", f"seed.{PKG}.seed_{i}"
            s = copy.deepcopy(t.seed)
            base_fields(s, name, uid, "seed", f"seeds/{name}.csv", [PKG, name])
            s.update(relation_name=relation("main", name), columns=columns(t, rng, rng.sample(COLS, 4)))
            self.add(self.nodes, uid, s, [])
            self.seeds.append(uid)
        for i in range(max(1, n // 200)):
            name, uid = f"snapshot_{i}", f"snapshot.{PKG}.snapshot_{i}"
            s = copy.deepcopy(t.snapshot)
            base_fields(s, name, uid, "snapshot", f"snapshots/{name}.yml", [PKG, name])
            src = rng.choice(list(self.sources))
            s["depends_on"] = {"macros": s["depends_on"]["macros"], "nodes": [src]}
            s["relation_name"] = relation("snapshots", name)
            self.add(self.nodes, uid, s, [src])
            self.snapshots.append(uid)

    def pick_parents(self, layer):
        """(kind, name, schema, uid) of a new model's parents."""
        rng, models = self.rng, self.models
        if layer == "staging":
            if rng.random() < 0.7:
                src = rng.choice(list(self.sources))
                return [("source", self.sources[src]["name"], "raw", src)]
            seed = rng.choice(self.seeds)
            return [("seed", self.nodes[seed]["name"], "main", seed)]
        picks = set()
        for _ in range(rng.randint(1, 2) if layer == "intermediate" else rng.randint(2, 4)):
            if rng.random() < 0.7:      # a recent model: long chains
                picks.add(models[len(models) - 1 - min(int(rng.expovariate(1 / 30)), len(models) - 1)])
            else:
                picks.add(rng.choice(models + self.snapshots))
        return [("ref", self.nodes[p]["name"], self.nodes[p]["schema"], p) for p in sorted(picks)]

    def add_model(self, i):
        t, rng, n = self.t, self.rng, self.n
        layer = "staging" if i < n // 5 else ("marts" if i >= n * 7 // 10 else "intermediate")
        name = f"{layer[:3]}_{rng.choice(ADJ)}_{rng.choice(NOUN)}_{i}"
        uid = f"model.{PKG}.{name}"
        plist = self.pick_parents(layer)
        raw, compiled, cols = sql_for(rng, name, [(k, nm, sc) for k, nm, sc, _ in plist])
        m = copy.deepcopy(t.model)
        base_fields(m, name, uid, "model", f"models/{layer}/{name}.sql", [PKG, layer, name])
        m.update(raw_code=raw, compiled_code=compiled, relation_name=relation("main", name),
                 description=f"{name.replace('_', ' ').capitalize()}: one row per {cols[0]}.",
                 columns=columns(t, rng, cols), schema="main", tags=[layer],
                 patch_path=f"{PKG}://models/{layer}/_{layer}.yml",
                 build_path=f"target/run/{PKG}/models/{layer}/{name}.sql",
                 compiled_path=f"target/compiled/{PKG}/models/{layer}/{name}.sql",
                 refs=[{"name": nm, "package": None, "version": None} for k, nm, _, _ in plist if k != "source"],
                 sources=[["raw", nm] for k, nm, _, _ in plist if k == "source"],
                 depends_on={"macros": [], "nodes": [p for *_, p in plist]})
        m["config"] = dict(m["config"], tags=[layer], materialized=rng.choice(["table", "view", "table"]))
        self.nodes[uid] = m
        self.parents[uid] = [p for *_, p in plist]
        self.models.append(uid)
        if rng.random() < 0.02:
            self.add_unit_test(uid, name, layer)     # dbt build runs it just before the model
        self.order.append(uid)
        for c in cols[: rng.choice([0, 0, 1, 1, 1, 2])]:
            self.add_test(uid, name, layer, c)

    def add_unit_test(self, model, name, layer):
        uname = f"{name}_unit"
        uid = f"unit_test.{PKG}.{name}.{uname}"
        u = copy.deepcopy(self.t.unit_test)
        u.update(name=uname, unique_id=uid, model=name, fqn=[PKG, layer, name, uname],
                 depends_on={"macros": [], "nodes": [model]})
        self.add(self.unit_tests, uid, u, [model])
        self.tests_of.setdefault(model, []).append(uid)

    def add_test(self, model, name, layer, c):
        rng = self.rng
        test_name = rng.choice(["unique", "not_null", "not_null", "relationships"])
        parents = [model]
        if test_name == "relationships" and len(self.models) > 1:
            parents.append(rng.choice(self.models[:-1]))
        elif test_name == "relationships":
            test_name = "unique"
        tname = f"{test_name}_{name}_{c}"
        uid = f"test.{PKG}.{tname}.{rng.getrandbits(40):010x}"
        tt = copy.deepcopy(self.t.test)
        base_fields(tt, tname, uid, "test", f"models/{layer}/_{layer}.yml", [PKG, layer, tname])
        tt.update(path=f"{tname}.sql", column_name=c, attached_node=model, file_key_name=f"models.{name}",
                  compiled_code=f"\nselect {c} as unique_field, count(*) as n_records\nfrom "
                                f"{relation('main', name)}\nwhere {c} is not null\n"
                                f"group by {c}\nhaving count(*) > 1\n",
                  build_path=f"target/run/{PKG}/models/{layer}/_{layer}.yml/{tname}.sql",
                  compiled_path=f"target/compiled/{PKG}/models/{layer}/_{layer}.yml/{tname}.sql",
                  refs=[{"name": self.nodes[p]["name"], "package": None, "version": None} for p in parents])
        tt["test_metadata"] = {"name": test_name, "namespace": None, "kwargs": {
            "column_name": c, "model": "{{ get_where_subquery(ref('" + name + "')) }}"}}
        tt["depends_on"] = dict(tt["depends_on"], nodes=parents)
        if rng.random() < 0.01:
            tt["config"] = dict(tt["config"], severity="warn")
            self.planned_warn.add(uid)
        self.add(self.nodes, uid, tt, parents)
        for p in parents:
            self.tests_of.setdefault(p, []).append(uid)

    def plan_failures(self):
        """0.3% of models error and as many tests fail, where a real failure usually
        is: near the leaves (few descendants), so most of the project still builds."""
        rng, models, n = self.rng, self.models, self.n
        index = {uid: i for i, uid in enumerate(models)}
        below = [0] * len(models)            # bitset of each model's model descendants
        for uid in reversed(models):
            for p in self.parents[uid]:
                if p in index:
                    below[index[p]] |= below[index[uid]] | (1 << index[uid])
        limit = max(5, n // 200)
        leafy = [uid for uid in models if bin(below[index[uid]]).count("1") <= limit]
        self.planned_error.update(rng.sample(leafy, min(len(leafy), max(2, n * 3 // 1000))))
        # Single-parent tests only: a failing relationships test would also skip the
        # children of its second parent, far up the graph.
        testable = [tu for uid in leafy if uid not in self.planned_error for tu in self.tests_of.get(uid, [])
                    if tu.startswith("test.") and tu not in self.planned_warn and self.parents[tu] == [uid]]
        self.planned_fail.update(rng.sample(testable, min(len(testable), max(2, n * 3 // 1000))))

    def set_statuses(self):
        """As dbt build sets them; self.order has parents first."""
        status = self.status
        for uid in self.order:
            ps = self.parents[uid]
            if uid.startswith("unit_test."):
                status[uid] = "pass"
            elif uid.startswith("test."):
                if any(status.get(p) in ("error", "skipped") for p in ps):
                    status[uid] = "skipped"
                else:
                    status[uid] = "fail" if uid in self.planned_fail else (
                        "warn" if uid in self.planned_warn else "pass")
            else:
                blocked = any(status.get(p) in ("error", "skipped") for p in ps) or any(
                    status.get(tu) in ("fail", "error") for p in ps for tu in self.tests_of.get(p, []))
                status[uid] = "skipped" if blocked else ("error" if uid in self.planned_error else "success")

    def add_exposures(self, count):
        t, rng, models = self.t, self.rng, self.models
        marts = [m for m in models if self.nodes[m]["tags"] == ["marts"]] or models
        # Some exposures sit right below a failure, so the blocked path is exercised.
        troubled = sorted({m for m in models if self.status[m] in ("error", "skipped")} |
                          {p for tu in self.planned_fail for p in self.parents[tu]})
        for i in range(count):
            name, uid = f"dashboard_{i}", f"exposure.{PKG}.dashboard_{i}"
            deps = {rng.choice(marts if rng.random() < 0.8 else models) for _ in range(rng.randint(1, 4))}
            if troubled and rng.random() < 0.08:
                deps.add(rng.choice(troubled))
            if rng.random() < 0.02:
                deps = {rng.choice(list(self.sources))}   # nothing upstream runs: untouched
            deps = sorted(deps)
            meta = tableau_meta(rng)
            meta = {"owner_team": "analytics"} if meta is None else {"tableau": meta}
            e = copy.deepcopy(t.exposure)
            e.update(name=name, unique_id=uid, fqn=[PKG, name], label=name.replace("_", " ").title(),
                     meta=meta, url=f"https://tableau.example.com/#/views/{name}",
                     depends_on={"macros": [], "nodes": deps},
                     refs=[{"name": self.nodes[d]["name"], "package": None, "version": None}
                           for d in deps if d in self.nodes],
                     sources=[["raw", self.sources[d]["name"]] for d in deps if d in self.sources])
            e["config"] = dict(e["config"], meta=meta)    # dbt 1.11 writes both
            self.add(self.exposures, uid, e, deps)
            self.status[uid] = "skipped" if any(self.status.get(d) in ("error", "skipped") for d in deps) \
                else "no-op"

    def child_map(self):
        children = {uid: [] for uid in self.parents}
        for uid, ps in self.parents.items():
            for p in ps:
                children[p].append(uid)
        return children


def build(args):
    results_path = args.template_results or os.path.join(os.path.dirname(args.template), "run_results.json")
    project = Project(Templates(args.template, results_path), random.Random(args.seed), args.models)
    project.add_sources_seeds_snapshots()
    for i in range(args.models):
        project.add_model(i)
    project.plan_failures()
    project.set_statuses()
    project.add_exposures(args.exposures)
    return project


NOT_COMPILED = ("compiled", "compiled_code", "extra_ctes", "extra_ctes_injected")


def write_manifest(path, p):
    for uid in p.models:
        if p.status[uid] == "skipped":      # dbt never compiled it: no compiled_* keys
            for key in NOT_COMPILED:
                p.nodes[uid].pop(key, None)
    sections = {"nodes": p.nodes, "sources": p.sources, "exposures": p.exposures, "unit_tests": p.unit_tests,
                "parent_map": {k: sorted(v) for k, v in p.parents.items()},
                "child_map": {k: sorted(v) for k, v in p.child_map().items()}}
    with open(path, "w") as f:
        f.write("{")
        for i, key in enumerate(p.t.manifest):      # dbt's key order
            f.write((", " if i else "") + json.dumps(key) + ": ")
            if key in sections:
                # One entry at a time: the whole document is never one string.
                f.write("{" + ", ".join(json.dumps(k) + ": " + json.dumps(v)
                                        for k, v in sections[key].items()) + "}")
            else:
                f.write(json.dumps(p.t.manifest[key]))
        f.write("}")


def heavy_sql(uid, compiled):
    """`compiled` with three ephemeral models injected ahead of it, as dbt does."""
    name = uid.rsplit(".", 1)[-1]
    ctes = ",\n".join(f"__dbt__cte__{name}_eph_{i} as (\n{compiled}\n)" for i in range(3))
    return f"with {ctes}\n{compiled}"


def write_results(path, p, heavy=False):
    meta = copy.deepcopy(p.t.results_meta)
    meta["args"] = dict(meta["args"], invocation_command="dbt build", which="build")
    with open(path, "w") as f:
        f.write('{"metadata": ' + json.dumps(meta["metadata"]) + ', "results": [')
        for i, uid in enumerate(p.order):
            s = p.status[uid]
            r = copy.deepcopy(p.t.results[(uid.split(".")[0], s)])
            node = p.nodes.get(uid) or {}
            r.update(unique_id=uid, status=s)
            if s == "error":
                r["message"] = f"Runtime Error in model {node.get('name')} ({node.get('original_file_path')})\n" \
                    "  Binder Error: Referenced column \"fx_rate\" not found in FROM clause!"
            if r.get("compiled_code") is not None and node.get("compiled_code"):
                r["compiled_code"] = heavy_sql(uid, node["compiled_code"]) if heavy else node["compiled_code"]
            if r.get("relation_name") is not None:
                r["relation_name"] = node.get("relation_name")
            f.write((", " if i else "") + json.dumps(r))
        f.write("], " + ", ".join(json.dumps(k) + ": " + json.dumps(v)
                                  for k, v in meta.items() if k != "metadata") + "}")


def main(argv):
    args = parse_args(argv)
    out = args.out or os.path.join(ROOT, "target/bench", f"manifest-{args.models}")
    os.makedirs(out, exist_ok=True)
    project = build(args)
    write_manifest(os.path.join(out, "manifest.json"), project)
    write_results(os.path.join(out, "run_results.json"), project, args.heavy)
    counts = {}
    for uid, s in project.status.items():
        key = uid.split(".")[0] + ":" + s
        counts[key] = counts.get(key, 0) + 1
    sizes = {f: os.path.getsize(os.path.join(out, f)) for f in ("manifest.json", "run_results.json")}
    print(json.dumps({"out": out, "sizes": sizes, "statuses": dict(sorted(counts.items()))}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
