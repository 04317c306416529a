#!/usr/bin/env bash
# T1 peer: the plain shell loop operators write: for each node in turn, scp the file, then ssh
# sha256sum it, printing "node: <digest>  <path>". OpenSSH 9's scp default (SFTP protocol).
# Subcommands (see bench/run.sh): check, version, run, digests OUTFILE, probe HOST.
set -euo pipefail

case ${1:-} in
  check) command -v scp >/dev/null && command -v ssh >/dev/null || { echo "OpenSSH client not installed"; exit 1; } ;;
  version) ssh -V 2>&1 ;;
  run)
    for ((k = 1; k <= BENCH_N; k++)); do
      path=$BENCH_FLEET/nodes/node$k/staging/bundle.kfb
      scp -q -F "$BENCH_SSH_CONFIG" "$BENCH_BUNDLE" "node$k:$path"
      digest=$(ssh -F "$BENCH_SSH_CONFIG" "node$k" sha256sum "$path")
      printf 'node%d: %s\n' "$k" "$digest"
    done
    ;;
  digests) awk 'NF == 3 && $1 ~ /:$/ { sub(/:$/, "", $1); print $1, $2 }' "$2" ;;
  probe) ssh -F "$BENCH_SSH_CONFIG" "$2" true ;;
  *) echo "usage: $0 check|version|run|digests FILE|probe HOST" >&2; exit 2 ;;
esac
