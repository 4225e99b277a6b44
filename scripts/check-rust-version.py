#!/usr/bin/env python3
"""Fails unless the workspace's rust-version is the highest rust-version any
package in Cargo.lock declares: a lower one would be a promise the locked
dependencies can't keep (and makes cargo's MSRV-aware resolver hold back fixes)."""
import json
import subprocess
import sys


def version(text):
    return tuple(int(part) for part in text.split("."))


meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--locked"],
    check=True, capture_output=True, text=True).stdout)
members = set(meta["workspace_members"])
ours = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
theirs = [(p["rust_version"], p["name"]) for p in meta["packages"]
          if p["id"] not in members and p.get("rust_version")]
highest, name = max(theirs, key=lambda v: version(v[0]))
if ours != {highest}:
    sys.exit(f"rust-version {sorted(ours)} in Cargo.toml, but {name} declares {highest}: "
             f"set [workspace.package] rust-version = \"{highest}\"")
print(f"rust-version {highest} (the highest locked: {name})")
