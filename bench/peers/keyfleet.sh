#!/usr/bin/env bash
# keyfleet itself: T1 is `push --no-install`, T2 is `push` (install) then `verify`, both of the
# passphrase bundle; push-x25519 is `push` (install) of the same key set sealed to an age X25519
# recipient, opened with its identity file. rotate is `rotate --keep-ca`, separate the same rotation
# as separate commands (create-keys --force --keep-ca, bundle, push, verify, cleanup), both on the key
# directory BENCH_ROT_KEYS whose previous generation every node holds.
# Subcommands (see bench/run.sh): check, version, run, push, push-x25519, verify, rotate, separate,
# digests OUTFILE, probe HOST.
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

# The five commands an operator ran for one rotation before rotate, each a process: the output is
# cleanup's report (every node ok), the others' go to BENCH_WORK for a failed run's note.
separate() {
  local bundle=$BENCH_WORK/separate.kfb logs=$BENCH_WORK/separate
  "$kf" create-keys --out "$BENCH_ROT_KEYS" --inventory "$BENCH_INVENTORY" --force --keep-ca \
    >"$logs-create-keys.out"
  "$kf" bundle --keys "$BENCH_ROT_KEYS" --out "$bundle" --passphrase-file "$BENCH_PASSPHRASE" \
    >"$logs-bundle.out"
  "$kf" push "$bundle" --inventory "$BENCH_INVENTORY" --passphrase-file "$BENCH_PASSPHRASE" --yes \
    "${parallel[@]}" >"$logs-push.out"
  "$kf" verify --inventory "$BENCH_INVENTORY" --manifest "$BENCH_ROT_KEYS/manifest.json" \
    "${parallel[@]}" >"$logs-verify.out"
  "$kf" cleanup --inventory "$BENCH_INVENTORY" --bundle "$bundle" "${parallel[@]}" --json
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
  rotate)
    "$kf" rotate --inventory "$BENCH_INVENTORY" --keys "$BENCH_ROT_KEYS" --keep-ca \
      --passphrase-file "$BENCH_PASSPHRASE" --yes "${parallel[@]}" --json
    ;;
  separate) separate ;;
  # push checks each node's copy against the bundle's SHA-256 before it reports the node ok.
  digests) "$BENCH_PYTHON" "$(dirname "$0")/../util.py" push-digests "$2" ;;
  probe) push "$BENCH_PROBE_INVENTORY" --no-install ;;
  *) echo "usage: $0 check|version|run|push|push-x25519|verify|rotate|separate|digests FILE|probe HOST" >&2; exit 2 ;;
esac
