#!/usr/bin/python3
"""Checks one keyfleet --json output (standard input) against docs/keyfleet-output.schema.json.

Usage: validate_json.py SCHEMA < OUTPUT. Exit 0 when standard input is exactly one JSON document
that the schema accepts and that keeps the rules the schema cannot say (docs/json.md): a fleet
command's summary counts its nodes, and its exit code follows them. Otherwise every problem goes
to standard error, one a line, and the exit status is 1. Needs python3-jsonschema (Debian 12:
4.10, draft 2020-12).
"""
import json
import sys

import jsonschema

SUCCESS = {"ok", "served-ok", "unchanged", "repaired", "reactivated", "staged", "would-install",
           "would-repair", "would-reactivate"}
AUTH = {"hostkey", "auth"}
REFUSED = {"conflict", "refused", "would-refuse"}
FLEET = {"push", "rotate", "verify", "status", "cleanup", "rollback"}


def fleet_problems(doc):
    summary, nodes = doc["summary"], doc["nodes"]
    problems = []
    if summary["total"] != len(nodes):
        problems.append(f"summary.total is {summary['total']}, nodes has {len(nodes)}")
    for status, count in summary.items():
        if status == "total":
            continue
        actual = sum(1 for n in nodes if n["status"] == status)
        if count != actual:
            problems.append(f"summary.{status} is {count}, nodes has {actual}")
    if doc["error"] is not None:
        return problems
    statuses = {n["status"] for n in nodes}
    local = doc.get("local")
    if doc["interrupted"]:
        expected = 130
    elif statuses & AUTH:
        expected = 3
    elif statuses & REFUSED:
        expected = 4
    elif statuses - SUCCESS or (local is not None and local["error"] is not None):
        expected = 1
    else:
        expected = 0
    if doc["exit_code"] != expected:
        problems.append(f"exit_code is {doc['exit_code']}, the nodes say {expected}")
    return problems


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    text = sys.stdin.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        print(f"not exactly one JSON document: {e}: {text[:200]!r}", file=sys.stderr)
        return 1
    problems = []
    for error in jsonschema.Draft202012Validator(schema).iter_errors(doc):
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        problems.append(f"{where}: {error.message}")
        for sub in error.context or []:
            sub_where = "/".join(str(p) for p in sub.absolute_path) or "(document)"
            problems.append(f"  {sub_where}: {sub.message}")
    if not problems and doc.get("command") in FLEET:
        problems = fleet_problems(doc)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
