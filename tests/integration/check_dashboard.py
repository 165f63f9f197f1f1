#!/usr/bin/python3
"""Structural check of a Grafana dashboard: JSON Schema subset + what a schema cannot say.

usage: check_dashboard.py <dashboard.json> <schema.json>
Exit 0 = valid; 1 = problems (each printed).
"""
import json
import sys

import jsonschema


def main() -> int:
    dash_path, schema_path = sys.argv[1], sys.argv[2]
    with open(dash_path) as f:
        dash = json.load(f)
    with open(schema_path) as f:
        schema = json.load(f)

    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    problems = [f"schema: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in cls(schema).iter_errors(dash)]
    if problems:  # the checks below assume the shape the schema guarantees
        print("\n".join(problems))
        return 1

    panels = list(dash["panels"])
    for p in dash["panels"]:
        panels.extend(p.get("panels", []))  # panels inside collapsed rows
    ids = [p["id"] for p in panels]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        problems.append(f"duplicate panel ids: {dup}")

    cells = {}
    for p in dash["panels"]:
        g = p["gridPos"]
        if g["x"] + g["w"] > 24:
            problems.append(f"panel {p['id']} ({p['title']}): x + w = {g['x'] + g['w']} > 24")
        for dx in range(g["w"]):
            for dy in range(g["h"]):
                c = (g["x"] + dx, g["y"] + dy)
                if c in cells:
                    problems.append(f"panel {p['id']} overlaps panel {cells[c]} at {c}")
                    break
                cells[c] = p["id"]
            else:
                continue
            break

    for p in panels:
        if p["type"] == "row":
            continue
        refs = [t["refId"] for t in p["targets"]]
        if len(set(refs)) != len(refs):
            problems.append(f"panel {p['id']} ({p['title']}): duplicate refIds {refs}")

    names = [v["name"] for v in dash["templating"]["list"]]
    text = json.dumps(dash["panels"])
    for v in ("instance", "rule"):
        if f"${v}" in text and v not in names:
            problems.append(f"panels use ${v} but there is no template variable {v}")

    if problems:
        print("\n".join(problems))
        return 1
    n_targets = sum(len(p.get("targets", [])) for p in panels)
    print(f"OK: {dash['title']!r} uid={dash['uid']} schemaVersion={dash['schemaVersion']}: "
          f"{len(panels)} panels, {n_targets} queries, variables {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
