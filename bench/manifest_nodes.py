"""Node makers for bench/make_manifest.py: real dbt 1.11 nodes (from the committed
tests/artifacts/build/ run) copied and filled in, so keys, nesting and size per node
are what dbt writes. Only the standard library is used."""

import copy
import hashlib
import json

PKG = "tableau_demo"
ADJ = ["daily", "weekly", "monthly", "active", "net", "gross", "open", "closed", "regional", "global"]
NOUN = ["orders", "customers", "revenue", "sessions", "invoices", "payments", "refunds", "shipments",
        "accounts", "products", "events", "subscriptions", "leads", "tickets", "inventory"]
COLS = ["id", "customer_id", "order_id", "amount", "currency", "created_at", "updated_at", "status",
        "country", "channel", "quantity", "discount", "region", "segment", "is_active", "valid_from"]
PROJECTS = ["Finance", "Ops", "Sales", "Marketing", "Data", "Product", "Europa"]


class Templates:
    """Real nodes of the template manifest and results, copied for each new node."""

    def __init__(self, manifest_path, results_path):
        with open(manifest_path) as f:
            m = json.load(f)
        with open(results_path) as f:
            r = json.load(f)
        nodes = m["nodes"]
        self.manifest = m
        self.model = nodes[f"model.{PKG}.stg_orders"]
        self.seed = nodes[f"seed.{PKG}.raw_orders"]
        self.snapshot = nodes[f"snapshot.{PKG}.orders_snapshot"]
        self.test = nodes[f"test.{PKG}.unique_stg_orders_order_id.e3b841c71a"]
        self.source = m["sources"][f"source.{PKG}.app.events"]
        self.exposure = m["exposures"][f"exposure.{PKG}.weekly_kpis"]
        self.unit_test = m["unit_tests"][f"unit_test.{PKG}.orders_weekly.orders_weekly_sums_a_week"]
        self.column = next(iter(self.model["columns"].values()))
        by_id = {x["unique_id"]: x for x in r["results"]}
        self.results_meta = {k: v for k, v in r.items() if k != "results"}
        # A real result for each (kind, status) the generator writes.
        self.results = {
            ("model", "success"): by_id[f"model.{PKG}.orders_weekly"],
            ("model", "error"): by_id[f"model.{PKG}.revenue_by_currency"],
            ("model", "skipped"): by_id[f"model.{PKG}.customer_orders"],
            ("seed", "success"): by_id[f"seed.{PKG}.raw_orders"],
            ("snapshot", "success"): by_id[f"snapshot.{PKG}.orders_snapshot"],
            ("test", "pass"): by_id[f"test.{PKG}.unique_stg_orders_order_id.e3b841c71a"],
            ("test", "warn"): by_id[f"test.{PKG}.not_null_stg_events_user_id.63ec98fbc4"],
            ("test", "fail"): by_id[f"test.{PKG}.unique_stg_customers_customer_id.c7614daada"],
            ("test", "skipped"): by_id[f"model.{PKG}.customer_orders"],
            ("unit_test", "pass"): by_id[f"unit_test.{PKG}.orders_weekly.orders_weekly_sums_a_week"],
            ("unit_test", "skipped"): by_id[f"model.{PKG}.customer_orders"],
            ("exposure", "no-op"): by_id[f"exposure.{PKG}.weekly_kpis"],
            ("exposure", "skipped"): by_id[f"exposure.{PKG}.sales_overview"],
        }


def relation(schema, name):
    return f'"{PKG}"."{schema}"."{name}"'


def sql_for(rng, name, parents):
    """raw_code with ref()/source() calls, and the compiled text with relations."""
    cols = rng.sample(COLS, rng.randint(3, 7))
    ctes_raw, ctes_compiled = [], []
    for i, (kind, pname, schema) in enumerate(parents):
        call = f"ref('{pname}')" if kind != "source" else f"source('raw', '{pname}')"
        body = "select\n        " + ",\n        ".join(cols) + "\n    from {src}\n    where " + \
            f"{cols[0]} is not null"
        ctes_raw.append(f"p{i} as (\n    " + body.format(src="{{ " + call + " }}") + "\n)")
        ctes_compiled.append(f"p{i} as (\n    " + body.format(src=relation(schema, pname)) + "\n)")
    tail = "\nselect\n    " + ",\n    ".join(f"p0.{c}" for c in cols) + "\nfrom p0"
    tail += "".join(f"\nleft join p{i} using ({cols[0]})" for i in range(1, len(parents)))
    head = f"-- {name}: generated for the benchmark\nwith "
    return head + ",\n".join(ctes_raw) + tail, head + ",\n".join(ctes_compiled) + tail, cols


def columns(t, rng, cols):
    out = {}
    for c in cols:
        col = copy.deepcopy(t.column)
        col["name"] = c
        col["description"] = f"The {c.replace('_', ' ')} of the row, as delivered by the upstream system."
        col["data_type"] = rng.choice(["varchar", "integer", "double", "timestamp", "boolean"])
        out[c] = col
    return out


def tableau_meta(rng):
    """meta.tableau in one of the forms the resolver reads; some None (no Tableau) or malformed."""
    r = rng.random()
    name = f"{rng.choice(ADJ).title()} {rng.choice(NOUN).title()}"
    luid = "%08x-%04x-4%03x-8%03x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
                                             rng.getrandbits(12), rng.getrandbits(48))
    if r < 0.03:
        return None
    if r < 0.05:
        return rng.choice([42, {"workbook": name, "datasource": name}, {"project": "Ops"}, "Sales"])
    if r < 0.35:
        return {"workbook": name, "project": rng.choice(PROJECTS)}
    if r < 0.45:
        return {"workbook": name}
    if r < 0.65:
        return {"datasource": name, "project": rng.choice(PROJECTS)}
    if r < 0.72:
        return {"datasource": name}
    if r < 0.80:
        return {"workbook_id": luid}
    if r < 0.87:
        return {"datasource_id": luid}
    return [{"workbook": name, "project": rng.choice(PROJECTS)},
            {"datasource": name + " Extract", "project": "Data"}][: rng.randint(1, 2)] + \
        ([{"workbook_id": luid}] if rng.random() < 0.5 else [])


def base_fields(node, name, uid, rtype, path, fqn):
    node.update(name=name, unique_id=uid, resource_type=rtype, fqn=fqn, path=path, original_file_path=path)
    if "alias" in node:                 # sources have none
        node["alias"] = name
    if "checksum" in node and isinstance(node["checksum"], dict) and node["checksum"].get("name") == "sha256":
        node["checksum"] = {"name": "sha256", "checksum": hashlib.sha256(uid.encode()).hexdigest()}
