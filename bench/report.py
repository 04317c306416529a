#!/usr/bin/env python3
"""Turns one bench/run.sh run into bench/RESULTS.md, bench/results.png and README's performance
section.

  report.py OUT_DIR BENCH_DIR README

OUT_DIR holds what run.sh wrote: results.csv (one row per run), notes.tsv (skips and discarded
runs), machine.tsv, versions.tsv, config.tsv and kex.tsv. Python's standard library only; the plot
is drawn by gnuplot when it is installed.
"""
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys

LABELS = {
    "keyfleet": "keyfleet push --no-install",
    "pdsh": "pdcp + pdsh (fanout 64)",
    "pssh": "parallel-scp + parallel-ssh (-p 64)",
    "clush": "clush --copy + clush (fanout 64)",
    "ansible": "ansible-playbook (forks 50)",
    "scp-loop": "scp + ssh loop",
    "ssh-true": "`ssh nodeK true` in parallel (floor)",
    "ssh-true-kfkex": "`ssh nodeK true`, keyfleet's kex (floor)",
    "keyfleet-push": "keyfleet push (install)",
    "keyfleet-verify": "keyfleet verify",
    "keyfleet-t2": "keyfleet push + verify",
    "keyfleet-decrypt": "keyfleet inspect with the passphrase (the decryption alone, no connection)",
    "keyfleet-wf10": "keyfleet push --no-install, bundle at work factor 10",
    "keyfleet-push-x25519": "keyfleet push (install), X25519 bundle (--identity)",
    "keyfleet-decrypt-x25519": "keyfleet inspect --identity, X25519 bundle (whole process, no connection)",
    "keyfleet-rotate": "keyfleet rotate --keep-ca",
    "keyfleet-separate": "create-keys + bundle + push + verify + cleanup",
}
PEERS = ["pdsh", "pssh", "clush", "ansible", "scp-loop"]
T1_ORDER = ["keyfleet"] + PEERS + ["ssh-true", "ssh-true-kfkex"]
TARGET_N = 100


def read_tsv(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    rows.append(line.rstrip("\n").split("\t"))
    return rows


def kv(path):
    return {row[0]: row[1] if len(row) > 1 else "" for row in read_tsv(path)}


class Runs:
    """The accepted runs of one (test, tool, n)."""

    def __init__(self, rows):
        self.rows = rows
        self.wall = [float(r["wall_s"]) for r in rows]
        self.rss = [int(r["rss_kib"]) for r in rows]
        self.cpu = [float(r["cpu_client_s"]) + float(r["cpu_sshd_s"]) for r in rows]
        self.cpu_client = [float(r["cpu_client_s"]) for r in rows]
        self.cpu_sshd = [float(r["cpu_sshd_s"]) for r in rows]

    def __bool__(self):
        return bool(self.rows)

    @property
    def median(self):
        return statistics.median(self.wall)


def load(out):
    with open(os.path.join(out, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    table = {}
    for row in rows:
        if row["status"] == "ok":
            table.setdefault((row["test"], row["tool"], int(row["n"])), []).append(row)
    runs = {key: Runs(value) for key, value in table.items()}
    # T2 as one figure: push + verify of the same run, both accepted.
    for (test, tool, n), push in list(runs.items()):
        if test != "t2" or tool != "keyfleet-push":
            continue
        verify = {r["run"]: r for r in runs.get(("t2", "keyfleet-verify", n), Runs([])).rows}
        combined = []
        for r in push.rows:
            v = verify.get(r["run"])
            if v:
                combined.append({
                    "run": r["run"],
                    "wall_s": float(r["wall_s"]) + float(v["wall_s"]),
                    "rss_kib": max(int(r["rss_kib"]), int(v["rss_kib"])),
                    "cpu_client_s": float(r["cpu_client_s"]) + float(v["cpu_client_s"]),
                    "cpu_sshd_s": float(r["cpu_sshd_s"]) + float(v["cpu_sshd_s"]),
                })
        if combined:
            runs[("t2", "keyfleet-t2", n)] = Runs(combined)
    return rows, runs


def fmt_s(x):
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def cell(r):
    if not r:
        return "—"
    if len(r.wall) == 1:
        return f"{fmt_s(r.median)}"
    return f"{fmt_s(r.median)} ({fmt_s(min(r.wall))}–{fmt_s(max(r.wall))})"


def ratio(a, b):
    return f"{a / b:.1f}×" if a and b else "—"


class Report:
    def __init__(self, out):
        self.out = out
        self.rows, self.runs = load(out)
        self.machine = kv(os.path.join(out, "machine.tsv"))
        self.config = kv(os.path.join(out, "config.tsv"))
        self.versions = read_tsv(os.path.join(out, "versions.tsv"))
        self.kex = read_tsv(os.path.join(out, "kex.tsv"))[1:]
        self.notes = read_tsv(os.path.join(out, "notes.tsv"))
        # kind -> (median, min, max) ms of opening the bundle in memory (keyfleet-bench-decrypt).
        self.decrypt = {row[0]: tuple(float(x) for x in row[1:4])
                        for row in read_tsv(os.path.join(out, "decrypt.tsv"))[1:] if len(row) >= 4}
        self.sizes = sorted({int(r["n"]) for r in self.rows if r["test"] == "t1"})
        self.target_n = TARGET_N if TARGET_N in self.sizes else (max(self.sizes) if self.sizes else None)

    def passphrase_bundle(self):
        """Which bundle the passphrase figures used, for every table that shows one."""
        wf = self.config.get("work_factor", "")
        wf = wf if wf.isdigit() else "18, keyfleet's default"
        return f"passphrase bundle, scrypt work factor {wf}"

    def get(self, test, tool, n):
        return self.runs.get((test, tool, n), Runs([]))

    def not_run(self, test, tool):
        for kind, t, name, n, message in self.notes:
            if kind == "not-run" and t == test and name in (tool, "all"):
                return message
        return None

    def fastest_peer(self, n):
        best = None
        for tool in PEERS:
            r = self.get("t1", tool, n)
            if r and (best is None or r.median < best[1]):
                best = (tool, r.median)
        return best

    # --- sections --------------------------------------------------------------------------------

    def header(self):
        m, c = self.machine, self.config
        load = m.get("load_start", "?")
        lines = [
            "# Benchmark results",
            "",
            "Written by `make bench` (bench/run.sh, bench/report.py); do not edit by hand. Method and "
            "fairness rules: [the end of this file](#method).",
            "",
            f"- Date: {m.get('date', '?')} to {m.get('date_end', '?')}; commit {m.get('commit', '?')}",
            f"- Machine: {m.get('cpu', '?')}, {m.get('nproc', '?')} cores, {m.get('memory', '?')}, "
            f"{m.get('os', '?')}, Linux {m.get('kernel', '?')}",
            f"- Load average at start / end: {load} / {m.get('load_end', '?')}"
            + (" (**the machine was busy: absolute times are inflated, ratios less so**)"
               if self.busy() else ""),
            f"- Fleet sizes: {c.get('nodes', '?')}; runs per tool and size: {c.get('runs', '?')}; "
            f"create-keys runs: {c.get('key_runs', '?')}",
            f"- File copied: {c.get('bundle', '?')}, {c.get('bundle_bytes', '?')} bytes",
            f"- keyfleet push --parallel: {c.get('kf_parallel', '?')}; bundle work factor: "
            f"{c.get('work_factor', '?')}; OpenSSH-based tools' key exchange: {c.get('peer_kex', '?')}",
            "",
            "Versions:",
            "",
            "| component | version |",
            "|---|---|",
        ]
        lines += [f"| {row[0]} | {row[1] if len(row) > 1 else '?'} |" for row in self.versions]
        return lines

    def busy(self):
        try:
            loads = [float(self.machine.get(k, "0").split()[0]) for k in ("load_start", "load_end")]
            return max(loads) > float(self.machine.get("nproc", "1")) * 0.75
        except ValueError:
            return False

    def t1(self):
        lines = ["", "## T1: copy + digest check on every node", "",
                 "Median wall seconds of the whole process(es), min–max in brackets. Each peer copies "
                 "the file, then runs `sha256sum` on every node; a run counts only if every node holds "
                 "an identical copy and the tool printed the right digest for every node.", ""]
        tools = [t for t in T1_ORDER if any(self.get("t1", t, n) for n in self.sizes)]
        lines.append("| N | " + " | ".join(LABELS[t] for t in tools) + " |")
        lines.append("|---" * (len(tools) + 1) + "|")
        for n in self.sizes:
            lines.append(f"| {n} | " + " | ".join(cell(self.get("t1", t, n)) for t in tools) + " |")
        for n in self.sizes:
            kf = self.get("t1", "keyfleet", n)
            lines += ["", f"### N = {n}", "",
                      "| tool | runs | median s | min–max s | peak RSS MiB | CPU ms/node (client + sshd) | tool / keyfleet |",
                      "|---|---|---|---|---|---|---|"]
            for tool in T1_ORDER:
                r = self.get("t1", tool, n)
                if not r:
                    why = self.not_run("t1", tool) or self.discard_reason("t1", tool, n)
                    if why:
                        lines.append(f"| {LABELS[tool]} | 0 | not run: {why} | | | | |")
                    continue
                cpu = statistics.median(r.cpu) / n * 1000
                lines.append(
                    f"| {LABELS[tool]} | {len(r.wall)} | {fmt_s(r.median)} | {fmt_s(min(r.wall))}–{fmt_s(max(r.wall))} "
                    f"| {max(r.rss) / 1024:.1f} | {cpu:.1f} | "
                    f"{'1.0×' if tool == 'keyfleet' else ratio(r.median, kf.median if kf else 0)} |")
        return lines

    def cell_or_why(self, test, tool, n):
        r = self.get(test, tool, n)
        if r:
            return cell(r)
        why = self.discard_reason(test, tool, n) or self.not_run(test, tool)
        return f"not run: {why}" if why else "—"

    def discard_reason(self, test, tool, n):
        for kind, t, name, nn, message in self.notes:
            if kind == "discarded" and t == test and name == tool and nn == str(n):
                return "every run discarded; first: " + message
        return None

    def t2(self):
        lines = ["", "## T2: full rotation (push with install + verify)", ""]
        if not any(self.get("t2", "keyfleet-push", n) for n in self.sizes):
            why = self.not_run("t2", "keyfleet") or self.not_run("t2", "keyfleet-push") or "no accepted run"
            return lines + [f"Not run: {why}."]
        lines += [f"push, verify and their sum use the {self.passphrase_bundle()}; the last two columns "
                  "are push (install) of the same key set sealed to an age X25519 recipient, opened with "
                  "`--identity` (no scrypt).", "",
                  "| N | push (install) | verify | push + verify | fastest peer's T1 | (push + verify) / fastest peer | push peak RSS MiB | X25519 push | X25519 push peak RSS MiB |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for n in self.sizes:
            push, verify, both = (self.get("t2", t, n) for t in ("keyfleet-push", "keyfleet-verify", "keyfleet-t2"))
            x25519 = self.get("x25519", "keyfleet-push-x25519", n)
            peer = self.fastest_peer(n)
            lines.append(f"| {n} | {self.cell_or_why('t2', 'keyfleet-push', n)} | "
                         f"{self.cell_or_why('t2', 'keyfleet-verify', n)} | {cell(both)} | "
                         + (f"{fmt_s(peer[1])} ({LABELS[peer[0]]})" if peer else "—") + " | "
                         + (f"{both.median / peer[1]:.2f}" if both and peer else "—") + " | "
                         + (f"{max(push.rss) / 1024:.1f}" if push else "—") + " | "
                         + f"{self.cell_or_why('x25519', 'keyfleet-push-x25519', n)} | "
                         + (f"{max(x25519.rss) / 1024:.1f}" if x25519 else "—") + " |")
        return lines

    def rotation(self):
        lines = ["", "## Rotation: rotate --keep-ca against the same rotation as separate commands", ""]
        sizes = sorted({n for (t, tool, n) in self.runs if t == "rotate"})
        if not sizes:
            why = (self.not_run("rotate", "keyfleet-rotate") or self.not_run("rotate", "keyfleet-separate")
                   or "no accepted run")
            return lines + [f"Not run: {why}."]
        lines += ["One generation made and installed on every node, verified and cleaned up, each run "
                  "the next generation of the same key directory, the two alternating: `rotate --keep-ca` "
                  "(one process, one connection per node) against `create-keys --force --keep-ca`, "
                  "`bundle`, `push`, `verify --manifest` and `cleanup --bundle` (five processes, three "
                  f"connections per node). Both with the {self.passphrase_bundle()}: bundle and push "
                  "each run scrypt once, rotate once in all. Median wall seconds (min–max); CPU is client "
                  "+ sshd per node, against one bare `ssh nodeK true` with keyfleet's key exchange at the "
                  "same N (T1's floor).", "",
                  "| N | separate commands | rotate | rotate / separate | rotate CPU ms/node | separate CPU ms/node | rotate CPU / floor |",
                  "|---|---|---|---|---|---|---|"]
        for n in sizes:
            rot, sep = self.get("rotate", "keyfleet-rotate", n), self.get("rotate", "keyfleet-separate", n)
            floor = self.get("t1", "ssh-true-kfkex", n)
            per = lambda r: statistics.median(r.cpu) / n * 1000 if r else None
            lines.append(f"| {n} | {self.cell_or_why('rotate', 'keyfleet-separate', n)} | "
                         f"{self.cell_or_why('rotate', 'keyfleet-rotate', n)} | "
                         + (f"{rot.median / sep.median:.2f}" if rot and sep else "—") + " | "
                         + (f"{per(rot):.1f}" if rot else "—") + " | "
                         + (f"{per(sep):.1f}" if sep else "—") + " | "
                         + (f"{per(rot) / per(floor):.2f}" if rot and floor else "—") + " |")
        return lines

    def create_keys(self):
        lines = ["", "## create-keys: keyfleet vs the openssl CLI", "",
                 "10 hosts (10 IP + 10 DNS SANs): CA, agent key and certificate, keystore.p12, "
                 "truststore.p12, store password, digests. Whole processes; the openssl side is "
                 "bench/openssl-create-keys.sh.", "",
                 "| key type | keyfleet create-keys s | openssl script s | keyfleet / openssl |", "|---|---|---|---|"]
        for key_type in ("ec-p256", "rsa-3072"):
            kf = self.get("create-keys", f"keyfleet-{key_type}", 10)
            ossl = self.get("create-keys", f"openssl-{key_type}", 10)
            kf_cell = cell(kf) if kf else "not run: " + (self.not_run("create-keys", "keyfleet") or self.discard_reason("create-keys", f"keyfleet-{key_type}", 10) or "no accepted run")
            lines.append(f"| {key_type} | {kf_cell} | {self.cell_or_why('create-keys', f'openssl-{key_type}', 10)} | "
                         + (f"{kf.median / ossl.median:.2f}" if kf and ossl else "—") + " |")
        return lines

    def scale(self):
        lines = ["", "## Scale: keyfleet push (install) on a large fleet", ""]
        scale = [(n, r) for (t, tool, n), r in self.runs.items() if t == "scale" and tool == "keyfleet-push"]
        if not scale:
            return lines + [f"Not run: {self.not_run('scale', 'keyfleet-push') or 'no accepted run'}."]
        lines += ["| N | push median s (min–max) | ms per node | vs ms per node at N = {} |".format(self.target_n),
                  "|---|---|---|---|"]
        base = self.get("t2", "keyfleet-push", self.target_n) if self.target_n else None
        for n, r in sorted(scale):
            per = r.median / n * 1000
            vs = f"{per / (base.median / self.target_n * 1000):.2f}×" if base else "—"
            lines.append(f"| {n} | {cell(r)} | {per:.1f} | {vs} |")
        return lines

    def memory(self):
        n = self.target_n
        lines = ["", "## Memory: where push's peak RSS goes", ""]
        rows = [("t1", "keyfleet"), ("t2", "keyfleet-push"), ("memory", "keyfleet-decrypt"),
                ("memory", "keyfleet-wf10"), ("x25519", "keyfleet-push-x25519"),
                ("memory", "keyfleet-decrypt-x25519")]
        if n is None or not any(self.get(t, tool, n) for t, tool in rows):
            return lines + ["Not measured."]
        lines += [f"Peak RSS of the whole process at N = {n} (largest run). The first four rows use the "
                  f"{self.passphrase_bundle()} (the work-factor-10 row excepted); the last two the same "
                  "key set sealed to an age X25519 recipient. scrypt needs 128 × r × 2^w "
                  "bytes at once (r = 8): 256 MiB at the default work factor w = 18, 1 MiB at w = 10. "
                  "The work factor is the bundle maker's choice (`bundle --work-factor`) and protects the "
                  "passphrase; push pays it once, whatever N. An X25519 bundle needs no scrypt at all.", "",
                  "| process | peak RSS MiB | median s |", "|---|---|---|"]
        for test, tool in rows:
            r = self.get(test, tool, n)
            if r:
                lines.append(f"| {LABELS[tool]} | {max(r.rss) / 1024:.1f} | {fmt_s(r.median)} |")
            else:
                why = self.not_run(test, tool) or self.discard_reason(test, tool, n) or "no accepted run"
                lines.append(f"| {LABELS[tool]} | not run: {why} | |")
        if self.decrypt:
            lines += ["", "Opening the bundle in memory alone (decrypt, authenticate, validate the tar; "
                      "`keyfleet-bench-decrypt`, no process start-up), median (min–max) ms:", "",
                      "| bundle | ms |", "|---|---|"]
            names = {"x25519": "X25519 bundle, one identity", "scrypt": self.passphrase_bundle()}
            for kind, (median, low, high) in sorted(self.decrypt.items(), reverse=True):
                lines.append(f"| {names.get(kind, kind)} | {median:.2f} ({low:.2f}–{high:.2f}) |")
        return lines

    def cpu(self):
        lines = ["", "## CPU per node", "",
                 "CPU seconds of the client process tree (/usr/bin/time: user + system, waited-for "
                 "children included) plus the sshd side (the fleet's sshd listeners' own and reaped "
                 "children's user + system time from /proc, read before and after each run, after the "
                 "run's sessions have ended), divided by N; medians over the accepted runs.", "",
                 "| N | tool | client ms/node | sshd ms/node | total ms/node | × floor with keyfleet's kex |",
                 "|---|---|---|---|---|---|"]
        for n in self.sizes:
            floor = self.get("t1", "ssh-true-kfkex", n)
            floor_ms = statistics.median(floor.cpu) / n * 1000 if floor else None
            for test, tool in [("t2", "keyfleet-push"), ("t1", "keyfleet")] + [("t1", t) for t in PEERS + ["ssh-true", "ssh-true-kfkex"]]:
                r = self.get(test, tool, n)
                if not r:
                    continue
                client = statistics.median(r.cpu_client) / n * 1000
                sshd = statistics.median(r.cpu_sshd) / n * 1000
                total = statistics.median(r.cpu) / n * 1000
                lines.append(f"| {n} | {LABELS[tool]} | {client:.1f} | {sshd:.1f} | {total:.1f} | "
                             + (f"{total / floor_ms:.2f}" if floor_ms else "—") + " |")
        return lines

    def targets(self):
        n = self.target_n
        lines = ["", "## Targets (issues 5, 15 and 16)", ""]
        if n is None:
            return lines + ["No T1 size was measured."]
        if n != TARGET_N:
            lines += [f"The targets are set at N = {TARGET_N}; this run's largest size is N = {n}, so the "
                      "verdicts below are for N = {} and only indicative.".format(n), ""]
        lines += ["| target | measured | verdict |", "|---|---|---|"]
        peer = self.fastest_peer(n)
        kf = self.get("t1", "keyfleet", n)
        both = self.get("t2", "keyfleet-t2", n)
        push = self.get("t2", "keyfleet-push", n)
        floor = self.get("t1", "ssh-true-kfkex", n)

        def row(target, measured, ok):
            verdict = "not measured" if ok is None else ("met" if ok else "**missed**")
            lines.append(f"| {target} | {measured} | {verdict} |")

        if kf and peer:
            row(f"T1 at N = {n}: keyfleet ≤ 0.25 × the fastest peer",
                f"{fmt_s(kf.median)} s vs {fmt_s(peer[1])} s ({LABELS[peer[0]]}): {kf.median / peer[1]:.2f}×",
                kf.median <= 0.25 * peer[1])
        else:
            row(f"T1 at N = {n}: keyfleet ≤ 0.25 × the fastest peer", "keyfleet or every peer not run", None)
        if both and peer:
            row(f"T2 at N = {n}: push + verify ≤ 0.5 × the fastest peer's T1",
                f"{fmt_s(both.median)} s vs {fmt_s(peer[1])} s: {both.median / peer[1]:.2f}×",
                both.median <= 0.5 * peer[1])
        else:
            row(f"T2 at N = {n}: push + verify ≤ 0.5 × the fastest peer's T1", "not run", None)
        if push and floor:
            kf_ms = statistics.median(push.cpu) / n * 1000
            floor_ms = statistics.median(floor.cpu) / n * 1000
            row("CPU per node (client + sshd) of push ≤ 1.5 × one bare `ssh nodeK true` with keyfleet's kex",
                f"{kf_ms:.1f} ms vs {floor_ms:.1f} ms: {kf_ms / floor_ms:.2f}×", kf_ms <= 1.5 * floor_ms)
        else:
            row("CPU per node (client + sshd) of push ≤ 1.5 × one bare `ssh nodeK true` with keyfleet's kex",
                "not run", None)
        if push:
            measured = f"{max(push.rss) / 1024:.1f} MiB (largest run)"
            decrypt, light = self.get("memory", "keyfleet-decrypt", n), self.get("memory", "keyfleet-wf10", n)
            if decrypt and light:
                measured += (f"; the decryption alone {max(decrypt.rss) / 1024:.1f} MiB, push with a "
                             f"work-factor-10 bundle {max(light.rss) / 1024:.1f} MiB (see Memory)")
            row(f"push peak RSS at N = {n} < 64 MiB ({self.passphrase_bundle()})", measured,
                max(push.rss) < 64 * 1024)
        else:
            row(f"push peak RSS at N = {n} < 64 MiB ({self.passphrase_bundle()})", "not run", None)
        x25519 = self.get("x25519", "keyfleet-push-x25519", n)
        if x25519:
            row(f"push peak RSS at N = {n} ≤ 64 MiB, X25519 bundle (issue 16)",
                f"{max(x25519.rss) / 1024:.1f} MiB (largest run)", max(x25519.rss) <= 64 * 1024)
        else:
            row(f"push peak RSS at N = {n} ≤ 64 MiB, X25519 bundle (issue 16)",
                self.not_run("x25519", "keyfleet") or "not run", None)
        if "x25519" in self.decrypt:
            median = self.decrypt["x25519"][0]
            row("decrypting an X25519 bundle ≤ 5 ms (issue 16)",
                f"{median:.2f} ms (median, in memory)", median <= 5)
        else:
            row("decrypting an X25519 bundle ≤ 5 ms (issue 16)", "not run", None)
        scale = sorted((sn, r) for (t, tool, sn), r in self.runs.items() if t == "scale" and tool == "keyfleet-push")
        if scale and push:
            sn, r = scale[-1]
            per, base = r.median / sn, push.median / n
            row(f"time per node at N = {sn} ≤ 1.2 × at N = {n}",
                f"{per * 1000:.1f} ms vs {base * 1000:.1f} ms: {per / base:.2f}×", per <= 1.2 * base)
        else:
            row("time per node at N = 300 ≤ 1.2 × at N = 100", "scale test not run", None)
        rot, sep = self.get("rotate", "keyfleet-rotate", n), self.get("rotate", "keyfleet-separate", n)
        target = f"rotate --keep-ca at N = {n} ≤ 0.6 × the same rotation as separate commands (issue 15)"
        if rot and sep:
            row(target, f"{fmt_s(rot.median)} s vs {fmt_s(sep.median)} s: {rot.median / sep.median:.2f}×",
                rot.median <= 0.6 * sep.median)
        else:
            row(target, self.not_run("rotate", "keyfleet-rotate") or "not run", None)
        target = (f"rotate CPU per node (client + sshd) at N = {n} ≤ 1.5 × one bare `ssh nodeK true` with "
                  "keyfleet's kex (issue 15)")
        if rot and floor:
            rot_ms = statistics.median(rot.cpu) / n * 1000
            floor_ms = statistics.median(floor.cpu) / n * 1000
            row(target, f"{rot_ms:.1f} ms vs {floor_ms:.1f} ms: {rot_ms / floor_ms:.2f}×",
                rot_ms <= 1.5 * floor_ms)
        else:
            row(target, "not run", None)
        kf_keys = self.get("create-keys", "keyfleet-ec-p256", 10)
        ossl = self.get("create-keys", "openssl-ec-p256", 10)
        if kf_keys and ossl:
            row("create-keys (ec-p256) ≤ 0.25 × the openssl CLI script",
                f"{fmt_s(kf_keys.median)} s vs {fmt_s(ossl.median)} s: {kf_keys.median / ossl.median:.2f}×",
                kf_keys.median <= 0.25 * ossl.median)
        else:
            row("create-keys (ec-p256) ≤ 0.25 × the openssl CLI script", "keyfleet create-keys not run", None)
        return lines

    def kex_section(self):
        lines = ["", "## Key exchange each tool negotiated", "",
                 "Logged by sshd (LogLevel DEBUG1) on a probe node, a copy of node1's sshd, to which each "
                 "tool made one connection with exactly its benchmark settings.", "",
                 "| tool | key exchange | host key | cipher (client to server) | note |", "|---|---|---|---|---|"]
        for row in self.kex:
            row += [""] * (5 - len(row))
            lines.append(f"| {LABELS.get(row[0], row[0])} | {row[1]} | {row[2]} | {row[3]} | {row[4]} |")
        if not self.kex:
            lines.append("| (no probe ran) | | | | |")
        lines += ["", f"The CPU floor uses `ssh -o KexAlgorithms=...` with: {self.config.get('floor_kex', 'curve25519-sha256 (assumed)')}."]
        return lines

    def notes_section(self):
        lines = ["", "## Not run, discarded and other notes", ""]
        if not self.notes:
            return lines + ["None: every tool ran and every run passed its checks."]
        tests = {"t1": "T1", "t2": "T2", "scale": "scale", "create-keys": "create-keys", "bundle": "bundle", "kex": "key exchange probe", "rotate": "rotation"}
        for kind, test, tool, n, message in self.notes:
            where = f"{tests.get(test, test)}, {tool}" + ("" if n == "-" else f", N = {n}")
            lines.append(f"- {kind}: {where}: {message}")
        return lines

    def plot_section(self, plotted):
        if plotted:
            return ["", "## Plot", "", "![Wall time against N for every tool](results.png)"]
        return ["", "## Plot", "", "Not drawn: gnuplot is not installed (scripts/deps.sh bench)."]

    def analysis(self):
        """bench/analysis.md: the hand-written profile of each miss and the before/after of each
        change made for a target. Its figures come from the measurements it describes, not from
        this run."""
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
        if not os.path.exists(path):
            return []
        return ["", open(path).read().rstrip()]

    def method(self):
        text = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "method.md")).read()
        return ["", text.rstrip()]

    # --- plot and README -------------------------------------------------------------------------

    def plot(self, bench_dir):
        if not shutil.which("gnuplot") or not self.sizes:
            return False
        series = [(LABELS[t], "t1", t) for t in T1_ORDER] + [(LABELS["keyfleet-t2"], "t2", "keyfleet-t2")]
        data, plots, index = [], [], 0
        for label, test, tool in series:
            points = [(n, self.get(test, tool, n)) for n in self.sizes if self.get(test, tool, n)]
            if not points:
                continue
            data.append(f"# {label}")
            data += [f"{n} {r.median} {min(r.wall)} {max(r.wall)}" for n, r in points]
            data += ["", ""]
            title = label.replace("`", "").replace('"', "'")
            plots.append(f"'{self.out}/plot.dat' index {index} using 1:2:3:4 with yerrorlines lw 2 title \"{title}\"")
            index += 1
        if not plots:
            return False
        with open(os.path.join(self.out, "plot.dat"), "w") as f:
            f.write("\n".join(data))
        lo, hi = min(self.sizes), max(self.sizes)
        script = "\n".join([
            "set terminal pngcairo size 1100,650 font 'sans,10'",
            f"set output '{os.path.join(bench_dir, 'results.png')}'",
            f"set title 'Copy + digest check on every node, loopback sshd fleet ({self.machine.get('nproc', '?')} cores)'",
            "set logscale xy", "set grid", "set key outside right top",
            f"set xrange [{lo * 0.8}:{hi * 1.25}]",
            "set xtics (" + ", ".join(f"'{n}' {n}" for n in self.sizes) + ")",
            "set xlabel 'nodes (N)'", "set ylabel 'wall seconds: median, bars min-max'",
            "plot " + ", \\\n  ".join(plots), ""])
        with open(os.path.join(self.out, "plot.gp"), "w") as f:
            f.write(script)
        subprocess.run(["gnuplot", os.path.join(self.out, "plot.gp")], check=True)
        return True

    def readme_block(self):
        n = self.target_n
        m = self.machine
        lines = [f"Latest `make bench` ({m.get('date', '?')[:10]}, {m.get('cpu', '?')}, {m.get('nproc', '?')} cores, "
                 f"load {m.get('load_start', '?').split()[0]} at start, {m.get('load_end', '?').split()[0]} "
                 f"at the end; fleet sizes {self.config.get('nodes', '?')}):", ""]
        if self.busy():
            # A saturated machine slows the floors too: say so where the figures are read first.
            lines += ["**The machine was busy during this run: absolute times are inflated, ratios "
                      "less so; see the Analysis section of bench/RESULTS.md before judging a "
                      "target.**", ""]
        if n is None:
            return lines + ["No fleet size was measured."]
        kf = self.get("t1", "keyfleet", n)
        lines += [f"T1 at N = {n}, copy + `sha256sum` on every node, median wall seconds (every tool "
                  f"copies the {self.passphrase_bundle()}):", "",
                  "| tool | seconds | tool / keyfleet |", "|---|---|---|"]
        for tool in T1_ORDER:
            r = self.get("t1", tool, n)
            if r:
                lines.append(f"| {LABELS[tool]} | {fmt_s(r.median)} | "
                             + ("1.0×" if tool == "keyfleet" else ratio(r.median, kf.median if kf else 0)) + " |")
            elif tool == "keyfleet":
                lines.append(f"| {LABELS[tool]} | not run: {self.not_run('t1', 'keyfleet') or 'no accepted run'} | |")
        both = self.get("t2", "keyfleet-t2", n)
        peer = self.fastest_peer(n)
        if both and peer:
            lines += ["", f"T2 (push with install + verify, {self.passphrase_bundle()}) at N = {n}: "
                          f"{fmt_s(both.median)} s, "
                          f"{both.median / peer[1]:.2f}× the fastest peer's T1 ({LABELS[peer[0]]})."]
        push, x25519 = self.get("t2", "keyfleet-push", n), self.get("x25519", "keyfleet-push-x25519", n)
        memory = []
        if push:
            memory.append(f"{max(push.rss) / 1024:.1f} MiB with the {self.passphrase_bundle()}")
        if x25519:
            memory.append(f"{max(x25519.rss) / 1024:.1f} MiB with an X25519 bundle "
                          f"({fmt_s(x25519.median)} s)")
        if memory:
            lines += ["", f"push (install) peak RSS at N = {n}: " + "; ".join(memory) + "."]
        rot, sep = self.get("rotate", "keyfleet-rotate", n), self.get("rotate", "keyfleet-separate", n)
        if rot and sep:
            lines += ["", f"rotate --keep-ca at N = {n}: {fmt_s(rot.median)} s, {rot.median / sep.median:.2f}× "
                          f"the same rotation as separate commands ({fmt_s(sep.median)} s); both "
                          f"sealed with a passphrase, scrypt work factor 18, keyfleet's default."]
        if "x25519" in self.decrypt:
            lines += ["", f"Opening an X25519 bundle in memory: {self.decrypt['x25519'][0]:.2f} ms (median)"
                          + (f"; the passphrase bundle: {self.decrypt['scrypt'][0]:.0f} ms" if "scrypt" in self.decrypt else "")
                          + "."]
        kf_keys, ossl = self.get("create-keys", "keyfleet-ec-p256", 10), self.get("create-keys", "openssl-ec-p256", 10)
        if kf_keys and ossl:
            lines += ["", f"create-keys (ec-p256, 10 hosts): {fmt_s(kf_keys.median)} s, "
                          f"{kf_keys.median / ossl.median:.2f}× the openssl CLI script ({fmt_s(ossl.median)} s)."]
        elif ossl:
            lines += ["", f"create-keys: not run ({self.not_run('create-keys', 'keyfleet') or 'no accepted run'}); "
                          f"the openssl CLI script takes {fmt_s(ossl.median)} s (ec-p256, 10 hosts)."]
        verdicts = [l for l in self.targets() if l.startswith("| ") and not l.startswith("| target")]
        met = sum(1 for l in verdicts if l.endswith("| met |"))
        missed = sum(1 for l in verdicts if "**missed**" in l)
        missed_names = [l.split(" | ")[0].lstrip("| ") for l in verdicts if "**missed**" in l]
        lines += ["", f"Targets of issues 5, 15 and 16: {met} met, {missed} missed, {len(verdicts) - met - missed} not measured"
                      + (f" (missed: {'; '.join(missed_names)}; why and the plan: the Analysis section)" if missed_names else "")
                      + ". Tables, method, key exchanges and the plot: [bench/RESULTS.md](bench/RESULTS.md).", "",
                  "![Wall time against N for every tool](bench/results.png)"]
        return lines

    def update_readme(self, readme):
        with open(readme) as f:
            text = f.read()
        block = "<!-- bench:begin -->\n" + "\n".join(self.readme_block()) + "\n<!-- bench:end -->"
        pattern = re.compile(r"<!-- bench:begin -->.*?<!-- bench:end -->", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: block, text)
        else:
            text = text.rstrip("\n") + "\n\n## Performance\n\n" + block + "\n"
        with open(readme, "w") as f:
            f.write(text)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    out, bench_dir, readme = sys.argv[1:]
    report = Report(out)
    plotted = report.plot(bench_dir)
    lines = (report.header() + report.targets() + report.t1() + report.t2() + report.rotation()
             + report.create_keys()
             + report.scale() + report.memory() + report.analysis() + report.cpu() + report.kex_section() + report.notes_section()
             + report.plot_section(plotted) + report.method())
    with open(os.path.join(bench_dir, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    report.update_readme(readme)


if __name__ == "__main__":
    main()
