#!/usr/bin/env bash
# T1 peer: clush --copy, then clush running sha256sum (ClusterShell, ssh worker), fanout 64.
# Subcommands (see bench/run.sh): check, version, run, digests OUTFILE, probe HOST.
set -euo pipefail

remote="${BENCH_BYPORT:-}/\${SSH_CONNECTION##* }/bundle.kfb"
# No per-user clush configuration: only /etc/clustershell (Debian's defaults) and these options.
export HOME=${BENCH_WORK:-/nonexistent}/clush-home
opts=(-O "ssh_options=-F ${BENCH_SSH_CONFIG:-/dev/null}"
      -O "scp_options=-O -F ${BENCH_SSH_CONFIG:-/dev/null}")

case ${1:-} in
  check) command -v clush >/dev/null || { echo "clush not installed (Debian package clustershell)"; exit 1; } ;;
  version) clush --version 2>&1 | sed -n 1p ;;
  run)
    mkdir -p "$HOME"
    # clush copies with scp; -O (scp's original protocol) so the node's shell resolves the path.
    clush -f "$BENCH_FANOUT" -w "node[1-$BENCH_N]" "${opts[@]}" --copy "$BENCH_BUNDLE" --dest "$remote"
    clush -f "$BENCH_FANOUT" -w "node[1-$BENCH_N]" "${opts[@]}" "sha256sum $remote"
    ;;
  digests) awk 'NF == 3 && $1 ~ /:$/ { sub(/:$/, "", $1); print $1, $2 }' "$2" ;;
  probe) mkdir -p "$HOME" && clush -w "$2" "${opts[@]}" true ;;
  *) echo "usage: $0 check|version|run|digests FILE|probe HOST" >&2; exit 2 ;;
esac
