#!/usr/bin/env bash
# T1 peer: parallel-scp, then parallel-ssh running sha256sum (Debian package pssh), -p 64.
# Subcommands (see bench/run.sh): check, version, run, digests OUTFILE, probe HOST.
set -euo pipefail

remote="${BENCH_BYPORT:-}/\${SSH_CONNECTION##* }/bundle.kfb"

case ${1:-} in
  check)
    command -v parallel-ssh >/dev/null && command -v parallel-scp >/dev/null ||
      { echo "parallel-ssh/parallel-scp not installed (Debian package pssh)"; exit 1; }
    ;;
  version) echo "parallel-ssh $(parallel-ssh --version 2>&1)" ;;
  run)
    # parallel-scp always adds -qC (quiet, compression). -O: scp's original protocol, whose remote
    # side is a shell that resolves the per-node path (OpenSSH 9's SFTP mode takes paths literally).
    # -t 0: no per-host timeout of its own (run.sh bounds the whole run).
    parallel-scp -h "$BENCH_HOSTS_FILE" -p "$BENCH_FANOUT" -t 0 -x "-O -F $BENCH_SSH_CONFIG" \
      "$BENCH_BUNDLE" "$remote"
    parallel-ssh -h "$BENCH_HOSTS_FILE" -p "$BENCH_FANOUT" -t 0 -P -x "-F $BENCH_SSH_CONFIG" \
      "sha256sum $remote"
    ;;
  # -P prints "node1: <hex>  <path>" as output arrives, and "[k] time [SUCCESS] node1" per host.
  digests) awk 'NF == 3 && $1 ~ /:$/ { sub(/:$/, "", $1); print $1, $2 }' "$2" ;;
  probe) parallel-ssh -H "$2" -t 0 -x "-F $BENCH_SSH_CONFIG" true ;;
  *) echo "usage: $0 check|version|run|digests FILE|probe HOST" >&2; exit 2 ;;
esac
