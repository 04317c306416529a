#!/usr/bin/env bash
# T1 peer: pdcp, then pdsh running sha256sum, both over OpenSSH (rcmd ssh), fanout 64.
# Subcommands (see bench/run.sh): check, version, run, digests OUTFILE, probe HOST.
set -euo pipefail

export PDSH_RCMD_TYPE=ssh
# pdsh's default is "-2 -a -x -l%u %h"; -F gives it the bench's client configuration.
export PDSH_SSH_ARGS="-F ${BENCH_SSH_CONFIG:-/dev/null} -a -x %h"
unset PDSH_SSH_ARGS_APPEND WCOLL PDSH_REMOTE_PDCP_PATH
remote="${BENCH_BYPORT:-}/\${SSH_CONNECTION##* }/bundle.kfb"

case ${1:-} in
  check)
    command -v pdsh >/dev/null && command -v pdcp >/dev/null || { echo "pdsh/pdcp not installed (Debian package pdsh)"; exit 1; }
    pdsh -V 2>&1 | grep -q 'rcmd modules:.*ssh' || { echo "pdsh has no ssh rcmd module"; exit 1; }
    ;;
  version) pdsh -V 2>&1 | sed -n 1p ;;
  run)
    # pdcp runs `pdcp -z TARGET` on each node (pdcp must be installed there too: here it is).
    pdcp -R ssh -f "$BENCH_FANOUT" -w "^$BENCH_HOSTS_FILE" "$BENCH_BUNDLE" "$remote"
    pdsh -R ssh -f "$BENCH_FANOUT" -w "^$BENCH_HOSTS_FILE" "sha256sum $remote"
    ;;
  digests) awk 'NF == 3 && $1 ~ /:$/ { sub(/:$/, "", $1); print $1, $2 }' "$2" ;;
  probe) pdsh -R ssh -w "$2" true ;;
  *) echo "usage: $0 check|version|run|digests FILE|probe HOST" >&2; exit 2 ;;
esac
