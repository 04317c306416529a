#!/usr/bin/env bash
# The floor: one `ssh nodeK true` per node, 64 at a time (xargs -P 64). Copies nothing. With
# BENCH_FLOOR_KEX set, the connections use that key exchange (keyfleet's, for the CPU comparison).
# Subcommands (see bench/run.sh): check, version, run, probe HOST.
set -euo pipefail

kex=()
[[ -n ${BENCH_FLOOR_KEX:-} ]] && kex=(-o "KexAlgorithms=$BENCH_FLOOR_KEX")

case ${1:-} in
  check)
    command -v ssh >/dev/null || { echo "OpenSSH client not installed"; exit 1; }
    if ((${#kex[@]})) && ! ssh -Q kex | grep -qxF "$BENCH_FLOOR_KEX"; then
      echo "this ssh does not offer the key exchange $BENCH_FLOOR_KEX"; exit 1
    fi
    ;;
  version) ssh -V 2>&1 ;;
  run) xargs -P "$BENCH_FANOUT" -I '{}' ssh -F "$BENCH_SSH_CONFIG" "${kex[@]}" '{}' true <"$BENCH_HOSTS_FILE" ;;
  probe) ssh -F "$BENCH_SSH_CONFIG" "${kex[@]}" "$2" true ;;
  *) echo "usage: $0 check|version|run|probe HOST" >&2; exit 2 ;;
esac
