#!/usr/bin/env python3
"""Small helpers for bench/run.sh that are clumsy in shell.

  util.py sshd-cpu FLEET [--settle SECONDS]
      CPU seconds (user + system) used so far by the fleet's sshd listeners and by every session
      they have reaped (a session's processes are reaped up the tree, so their time lands in the
      listener's cutime/cstime), and the number of sessions still alive. With --settle, first waits
      up to SECONDS for the sessions of the last run to end.
  util.py push-digests FILE
      From a `keyfleet push --json` document: "NAME SHA256" for every node whose copy was checked
      (status ok or unchanged).
  util.py nodes-ok FILE N [STATUS,...]
      Checks a keyfleet --json document: exactly N nodes, each with an accepted status (default ok).
  util.py installed FLEET N MANIFEST
      Checks every node's DEST/current against the manifest: every file the bundle carries is
      there with the manifest's size and SHA-256.
"""
import hashlib
import json
import os
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read().decode("ascii", "replace")
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    return data[data.rindex(")") + 2:].split()


def listener_pids(fleet):
    pids = []
    nodes = os.path.join(fleet, "nodes")
    for name in os.listdir(nodes):
        try:
            with open(os.path.join(nodes, name, "sshd.pid")) as f:
                pids.append(int(f.read().strip()))
        except (OSError, ValueError):
            pass
    return pids


def live_sessions(listeners):
    wanted = set(listeners)
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = stat_fields(entry)
        except (OSError, ValueError):
            continue
        # fields[1] is the parent pid; a zombie (state Z) has already exited.
        if int(fields[1]) in wanted and fields[0] != "Z":
            count += 1
    return count


def sshd_cpu(args):
    fleet = args[0]
    settle = float(args[2]) if len(args) >= 3 and args[1] == "--settle" else 0.0
    listeners = listener_pids(fleet)
    deadline = time.monotonic() + settle
    alive = live_sessions(listeners)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = live_sessions(listeners)
    ticks = 0
    for pid in listeners:
        try:
            fields = stat_fields(pid)
        except (OSError, ValueError):
            continue
        # utime, stime, cutime, cstime: fields 14-17 of proc(5), 11-14 here.
        ticks += sum(int(x) for x in fields[11:15])
    print(f"{ticks / TICKS:.2f} {alive}")


def load_json(path):
    with open(path) as f:
        text = f.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        first = text.strip().splitlines()[:1]
        raise SystemExit(f"not one JSON document ({e.msg}): {first[0][:120] if first else 'empty output'}")


def push_digests(args):
    doc = load_json(args[0])
    digest = doc.get("bundle_sha256", "")
    for node in doc.get("nodes", []):
        # push --no-install reports "staged": the bundle is on the node, its digest checked.
        if node.get("status") in ("ok", "unchanged", "staged"):
            print(node.get("name"), digest)


def nodes_ok(args):
    doc = load_json(args[0])
    want = int(args[1])
    accepted = set((args[2] if len(args) > 2 else "ok").split(","))
    nodes = doc.get("nodes")
    if not isinstance(nodes, list):
        raise SystemExit("no 'nodes' list in the JSON document")
    bad = [f"{n.get('name')}={n.get('status')}" + (f" ({n.get('error')})" if n.get("error") else "")
           for n in nodes if n.get("status") not in accepted]
    if bad:
        raise SystemExit(f"{len(bad)} of {len(nodes)} nodes not {'/'.join(sorted(accepted))}: "
                         + "; ".join(bad[:3])[:300])
    if len(nodes) != want:
        raise SystemExit(f"{len(nodes)} nodes reported, expected {want}")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def installed(args):
    fleet, n, manifest_path = args[0], int(args[1]), args[2]
    manifest = load_json(manifest_path)
    # ca.key never travels in a bundle unless asked for; every other file must be on the node.
    files = [f for f in manifest["files"] if f["name"] != "ca.key"]
    problems = []
    for k in range(1, n + 1):
        current = os.path.join(fleet, "nodes", f"node{k}", "dest", "current")
        for entry in files:
            path = os.path.join(current, entry["name"])
            try:
                if os.path.getsize(path) != entry["size"] or sha256_file(path) != entry["sha256"]:
                    problems.append(f"node{k}/{entry['name']} differs")
            except OSError as e:
                problems.append(f"node{k}/{entry['name']}: {e.strerror}")
    if problems:
        raise SystemExit(f"{len(problems)} installed files wrong: " + "; ".join(problems[:3]))


COMMANDS = {"sshd-cpu": sshd_cpu, "push-digests": push_digests, "nodes-ok": nodes_ok,
            "installed": installed}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
