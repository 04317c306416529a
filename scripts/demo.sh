#!/usr/bin/env bash
# `make demo`: the whole rotation on a 3-node loopback fleet of real sshd daemons, showing each
# command and its output, then the fleet is torn down.
set -euo pipefail
kf=$(realpath "${1:-build/keyfleet}")
nodes=${DEMO_NODES:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/keyfleet-demo.XXXXXX")
fleet=$work/fleet

cleanup() {
  for agent in "$work"/agent-*; do
    [[ -d $agent ]] && "$top/tests/fleet/tls_server.sh" stop "$agent" >/dev/null 2>&1
  done
  "$top/tests/fleet/fleet.sh" stop "$fleet" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
say() { printf '\n# %s\n' "$*"; }

say "Starting $nodes sshd daemons on 127.0.0.1 (own host keys, known_hosts and inventory)"
"$top/tests/fleet/fleet.sh" start "$nodes" "$fleet"
inventory=$fleet/inventory.toml
# The demo's audit log, not yours.
export KEYFLEET_AUDIT_LOG=$work/audit.jsonl
sed -n '1,12p' "$inventory"

say "A passphrase file that only its owner can read (passphrases are never command-line arguments)"
(umask 077 && head -c 24 /dev/urandom | base64 > "$work/passphrase")

say "1. A new key set: CA, agent certificate with a SAN per node, PKCS#12 stores, manifest"
step "$kf" create-keys --out "$work/keys" --inventory "$inventory"

say "2. Seal it in an encrypted, authenticated bundle (age v1 around a tar)"
step "$kf" bundle --keys "$work/keys" --out "$work/agent.kfb" --passphrase-file "$work/passphrase"

say "3. Copy, digest-check and install it on every node"
step "$kf" push "$work/agent.kfb" --inventory "$inventory" --passphrase-file "$work/passphrase" --yes

say "4. Verify every installed file on every node against the manifest"
step "$kf" verify --inventory "$inventory" --manifest "$work/keys/manifest.json"

say "5. Wipe the staged copies on the nodes and the local bundle"
step "$kf" cleanup --inventory "$inventory" --bundle "$work/agent.kfb"

say "Each node's agent: openssl s_server serving DEST/current/agent.crt (the inventory's probe)"
probed=$work/probed.toml
cp "$inventory" "$probed"
for k in $(seq 1 "$nodes"); do
  current=$fleet/nodes/node$k/dest/current
  for _ in 1 2 3 4 5; do  # a port that turns out to be taken: another
    port=$((33000 + RANDOM % 2000))
    "$top/tests/fleet/tls_server.sh" start "$work/agent-$k" "$port" "$current/agent.crt" \
      "$current/agent.key" 2>/dev/null && break
  done
  # After node k's `staging` line: its probe.
  awk -v k="$k" -v port="$port" '{ print } $0 == "name = \"node" k "\"" { mine = 1 }
    mine && /^staging = / { print "probe = \":" port "\""; mine = 0 }' "$probed" >"$probed.new"
  mv "$probed.new" "$probed"
done

say "6. Each node's generation, certificates, days to expiry, and what its agent serves"
step "$kf" status --inventory "$probed" --prometheus "$work/keyfleet.prom"
step grep -v '^#' "$work/keyfleet.prom"

say "7. Replace the CA without downtime, in one run: trust (old and new CA), leaf (new certificates
#    from the new CA), retire (the new CA alone); node1 first each time (--canary 1). Each node's
#    post hook restarts its agent, and the probe checks it serves the new certificate."
rotated=$work/rotated.toml
awk -v agents="$work/agent-" -v script="$top/tests/fleet/tls_server.sh" '{ print }
  /^name = "node/ { k = $3; gsub(/[^0-9]/, "", k) }
  /^probe = / { print "post = \"" script " restart " agents k "\"" }' "$probed" >"$rotated"
step "$kf" rotate --inventory "$rotated" --keys "$work/keys" --new-ca --canary 1 \
  --passphrase-file "$work/passphrase" --yes
step "$kf" status --keys "$work/keys"

say "8. Who did what: the audit log, and its hash chain checked"
step "$kf" audit show
step "$kf" audit verify

say "What node1 holds now"
step ls -l "$fleet/nodes/node1/dest" "$fleet/nodes/node1/dest/current/"

# status exits 1 for a certificate expiring within --warn-days (30): the new agent certificates
# run 825 days and the new CA 3650, so a healthy fleet ends the demo with exit 0 under set -e.
say "9. The fleet as the rotation left it: its generation, certificates and served certificates"
step "$kf" status --inventory "$rotated"
say "Demo finished; the fleet is being stopped."
