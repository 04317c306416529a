#!/usr/bin/env bash
# keyfleet itself: T1 is `push --no-install`, T2 is `push` (install) then `verify`, both of the
# passphrase bundle; push-x25519 is `push` (install) of the same key set sealed to an age X25519
# recipient, opened with its identity file.
# Subcommands (see bench/run.sh): check, version, run, push, push-x25519, verify, digests OUTFILE,
# probe HOST.
set -euo pipefail

kf=${BENCH_KF:-keyfleet}
parallel=()
[[ -n ${BENCH_KF_PARALLEL:-} ]] && parallel=(--parallel "$BENCH_KF_PARALLEL")

push() {  # INVENTORY [--no-install]
  local inventory=$1
  shift
  "$kf" push "$BENCH_BUNDLE" --inventory "$inventory" --passphrase-file "$BENCH_PASSPHRASE" --yes \
    "$@" "${parallel[@]}" --json
}

push_x25519() {  # INVENTORY
  [[ -n ${BENCH_X25519_BUNDLE:-} && -n ${BENCH_IDENTITY:-} ]] || { echo "no X25519 bundle" >&2; exit 1; }
  "$kf" push "$BENCH_X25519_BUNDLE" --inventory "$1" --identity "$BENCH_IDENTITY" --yes \
    "${parallel[@]}" --json
}

case ${1:-} in
  check)
    [[ -x $kf ]] || { echo "no keyfleet binary at $kf (make build)"; exit 1; }
    for command in push verify; do
      "$kf" "$command" --help >/dev/null 2>&1 || { echo "this keyfleet has no '$command' command"; exit 1; }
    done
    [[ -n ${BENCH_PASSPHRASE:-} ]] || { echo "no keyfleet bundle to push (create-keys or bundle unavailable)"; exit 1; }
    ;;
  version) [[ -x $kf ]] && "$kf" --version ;;
  run) push "$BENCH_INVENTORY" --no-install ;;
  push) push "$BENCH_INVENTORY" ;;
  push-x25519) push_x25519 "$BENCH_INVENTORY" ;;
  verify) "$kf" verify --inventory "$BENCH_INVENTORY" --manifest "$BENCH_KEYS/manifest.json" --json ;;
  # push checks each node's copy against the bundle's SHA-256 before it reports the node ok.
  digests) "$BENCH_PYTHON" "$(dirname "$0")/../util.py" push-digests "$2" ;;
  probe) push "$BENCH_PROBE_INVENTORY" --no-install ;;
  *) echo "usage: $0 check|version|run|push|push-x25519|verify|digests FILE|probe HOST" >&2; exit 2 ;;
esac
