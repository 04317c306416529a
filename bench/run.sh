#!/usr/bin/env bash
# `make bench`: keyfleet against the tools operators use today, on loopback sshd fleets
# (tests/fleet/fleet.sh). Every tool copies the passphrase bundle; keyfleet push also installs the
# same key set sealed to an age X25519 recipient (issue 16: no scrypt, so a small push). Writes bench/results.csv, bench/RESULTS.md, bench/results.png and the
# README's performance section; raw outputs of every run go to bench/out/ (not committed).
#
#   bench/run.sh [KEYFLEET_BINARY]        (default build/keyfleet)
#
# Environment:
#   BENCH_NODES="10 50 100"   fleet sizes for T1 and T2
#   BENCH_RUNS=5              runs per tool and size (default 5, and 3 at N >= 100)
#   BENCH_KEY_RUNS=5          runs per create-keys variant
#   BENCH_SCALE=1             0 skips the scale test
#   BENCH_ROTATE=1            0 skips rotate --keep-ca against the separate commands
#   BENCH_SCALE_NODES=300     its fleet size (less if the machine cannot hold it)
#   BENCH_TOOLS="..."         T1 tools to run (default: all of keyfleet pdsh pssh clush ansible
#                             scp-loop ssh-true ssh-true-kfkex)
#   BENCH_KF_PARALLEL=N       passes --parallel N to keyfleet push (default: keyfleet's own)
#   BENCH_WORK_FACTOR=N       passes --work-factor N to keyfleet bundle (default: keyfleet's own)
#   BENCH_PEER_KEX=ALG        makes every OpenSSH-based tool use that key exchange (default:
#                             OpenSSH's own choice, sntrup761x25519-sha512 on OpenSSH 9.2)
#
# Every tool gets the same fleet, bundle file, client key, known_hosts and strict host key
# checking. A tool that is missing or fails is recorded as "not run: <why>" and the rest go on; a
# run whose copies or printed digests are wrong is discarded and said so. The exit status is
# non-zero only for the harness's own errors.
set -euo pipefail

bench=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$bench")
# shellcheck source=SCRIPTDIR/lib.sh
source "$bench/lib.sh"

kf=$(realpath -m "${1:-$top/build/keyfleet}")
nodes_list=${BENCH_NODES:-10 50 100}
runs_override=${BENCH_RUNS:-}
key_runs=${BENCH_KEY_RUNS:-5}
scale=${BENCH_SCALE:-1}
scale_nodes=${BENCH_SCALE_NODES:-300}
all_tools="keyfleet pdsh pssh clush ansible scp-loop ssh-true ssh-true-kfkex"
tools=${BENCH_TOOLS:-$all_tools}
export BENCH_FANOUT=64 BENCH_FORKS=50 BENCH_KF=$kf
export BENCH_KF_PARALLEL=${BENCH_KF_PARALLEL:-}

for n in $nodes_list $scale_nodes $key_runs ${runs_override:-1}; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_NODES, BENCH_SCALE_NODES, BENCH_RUNS and BENCH_KEY_RUNS take positive integers, got '$n'"
done
for tool in $tools; do
  [[ " $all_tools " == *" $tool "* ]] || die "BENCH_TOOLS: unknown tool '$tool' (known: $all_tools)"
done
for need in /usr/bin/time timeout sha256sum awk find ssh ssh-keygen /usr/sbin/sshd openssl; do
  command -v "$need" >/dev/null || die "$need not found: run 'scripts/deps.sh test bench' (or make bench)"
done
BENCH_PYTHON=$(command -v /usr/bin/python3 || command -v python3 || true)
[[ -n $BENCH_PYTHON ]] || die "python3 not found: run 'scripts/deps.sh bench'"
export BENCH_PYTHON

# Each node is its own sshd; the client side needs a descriptor per connection in flight.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

out=$bench/out
rm -rf "$out"
mkdir -p "$out/runs"
work=$(mktemp -d "${TMPDIR:-/tmp}/keyfleet-bench.XXXXXX")
csv=$out/results.csv
echo "test,n,tool,run,status,wall_s,rss_kib,cpu_client_s,cpu_sshd_s,note" >"$csv"
: >"$out/notes.tsv"

fleets=()
probe_pid=""
TIMED_PID=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [[ -n $TIMED_PID ]] && kill -TERM "$TIMED_PID" 2>/dev/null
  stop_probe
  local fleet
  for fleet in "${fleets[@]}"; do
    "$top/tests/fleet/fleet.sh" stop "$fleet" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# The time limit of one run: generous for the slowest peer (ansible) on a slow machine.
limit_for() { echo $((120 + 4 * $1)); }

note() {  # KIND TEST TOOL N MESSAGE  (KIND: not-run, discarded, info)
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5//$'\t'/ }" >>"$out/notes.tsv"
  log "$2 $3 N=$4: $1: $5"
}

record() {  # TEST N TOOL RUN STATUS SSHD_CPU NOTE   (times from the last `timed`)
  local why=${7//,/;}
  printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$1" "$2" "$3" "$4" "$5" "$T_WALL" "$T_RSS" "$T_CPU" \
    "$6" "${why//$'\n'/ }" >>"$csv"
}

sshd_cpu() {  # FLEET SETTLE_SECONDS -> "seconds live_sessions"
  "$BENCH_PYTHON" "$bench/util.py" sshd-cpu "$1" --settle "$2"
}

# --- machine, versions ---------------------------------------------------------------------------

write_machine() {
  {
    printf 'date\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'cpu\t%s\n' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    printf 'nproc\t%s\n' "$(nproc)"
    printf 'memory\t%s MiB\n' "$(awk '/^MemTotal/ { printf "%d", $2 / 1024 }' /proc/meminfo)"
    printf 'kernel\t%s\n' "$(uname -r)"
    printf 'os\t%s\n' "$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")"
    printf 'load_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'commit\t%s\n' "$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)"
  } >"$out/machine.tsv"
}

write_versions() {
  local tool version
  {
    for tool in keyfleet pdsh pssh clush ansible; do
      version=$("$bench/peers/$tool.sh" version 2>/dev/null) || version="not available"
      printf '%s\t%s\n' "$tool" "${version%%$'\n'*}"
    done
    printf 'openssh\t%s\n' "$(ssh -V 2>&1)"
    printf 'libssh\t%s\n' "$(dpkg-query -W -f='${Version}' libssh-4 2>/dev/null || echo unknown)"
    printf 'openssl\t%s\n' "$(openssl version)"
    printf 'python\t%s\n' "$("$BENCH_PYTHON" --version 2>&1)"
    printf 'gnuplot\t%s\n' "$(gnuplot --version 2>/dev/null || echo "not available")"
  } >"$out/versions.tsv"
}

# --- the bundle every tool copies ----------------------------------------------------------------

# A 10-host inventory for create-keys (no fleet behind it: create-keys only reads the hosts).
write_key_inventory() {  # FILE
  local k
  for ((k = 1; k <= 10; k++)); do
    printf '[[node]]\nname = "node%d"\nhost = "10.0.0.%d"\nsans = ["node%d.example.com"]\n\n' "$k" "$k" "$k"
  done >"$1"
}
key_hosts() {
  local k
  for ((k = 1; k <= 10; k++)); do echo "10.0.0.$k node$k.example.com"; done
}

# The same key set sealed to a recipient made by `keyfleet keygen`: push opens it with --identity.
prepare_x25519_bundle() {
  export BENCH_X25519_BUNDLE="" BENCH_IDENTITY=""
  local prefix=$out/runs/prepare recipient
  [[ -n $BENCH_PASSPHRASE ]] || return 0
  if ! "$kf" keygen --help >/dev/null 2>&1; then
    note not-run x25519 keyfleet - "this keyfleet has no keygen command"
    return 0
  fi
  if recipient=$("$kf" keygen --out "$work/identity" 2>"$prefix-keygen.err") &&
    "$kf" bundle --keys "$BENCH_KEYS" --out "$work/bundle-x25519.kfb" --recipient "$recipient" \
      >"$prefix-bundle-x25519.out" 2>"$prefix-bundle-x25519.err"; then
    BENCH_X25519_BUNDLE=$work/bundle-x25519.kfb
    BENCH_IDENTITY=$work/identity
    printf 'bundle_x25519_bytes\t%s\n' "$(stat -c %s "$BENCH_X25519_BUNDLE")" >>"$out/config.tsv"
  else
    note not-run x25519 keyfleet - "keygen/bundle --recipient failed: $(last_error "$prefix-bundle-x25519") $(last_error "$prefix-keygen")"
  fi
}

prepare_bundle() {
  export BENCH_BUNDLE=$work/bundle.kfb BENCH_KEYS=$work/keys BENCH_PASSPHRASE=""
  write_key_inventory "$work/keys-inventory.toml"
  local kind="" prefix=$out/runs/prepare
  if [[ -x $kf ]] && "$kf" create-keys --help >/dev/null 2>&1 && "$kf" bundle --help >/dev/null 2>&1; then
    (umask 077 && head -c 24 /dev/urandom | base64 >"$work/passphrase")
    local work_factor=()
    [[ -n ${BENCH_WORK_FACTOR:-} ]] && work_factor=(--work-factor "$BENCH_WORK_FACTOR")
    if "$kf" create-keys --out "$BENCH_KEYS" --inventory "$work/keys-inventory.toml" \
        >"$prefix-create-keys.out" 2>"$prefix-create-keys.err" &&
      "$kf" bundle --keys "$BENCH_KEYS" --out "$BENCH_BUNDLE" --passphrase-file "$work/passphrase" \
        "${work_factor[@]}" >"$prefix-bundle.out" 2>"$prefix-bundle.err"; then
      kind="keyfleet bundle (create-keys for 10 hosts, ec-p256)"
      BENCH_PASSPHRASE=$work/passphrase
    else
      note not-run bundle keyfleet - "create-keys/bundle failed: $(last_error "$prefix-bundle") $(last_error "$prefix-create-keys")"
    fi
  else
    note not-run bundle keyfleet - "this keyfleet has no create-keys/bundle command; the tools copy a random file and keyfleet push is not run"
  fi
  if [[ -z $kind ]]; then
    rm -f "$BENCH_BUNDLE"
    head -c 20480 /dev/urandom >"$BENCH_BUNDLE"
    kind="20 KiB of random bytes (no keyfleet bundle available)"
  fi
  BUNDLE_SHA=$(sha256sum "$BENCH_BUNDLE" | cut -d' ' -f1)
  {
    printf 'bundle\t%s\n' "$kind"
    printf 'bundle_bytes\t%s\n' "$(stat -c %s "$BENCH_BUNDLE")"
    printf 'bundle_sha256\t%s\n' "$BUNDLE_SHA"
  } >>"$out/config.tsv"
}

# --- tools ---------------------------------------------------------------------------------------

declare -A not_run=()
script_of() { [[ $1 == ssh-true* ]] && echo "$bench/peers/ssh-true.sh" || echo "$bench/peers/$1.sh"; }
floor_kex_of() { [[ $1 == ssh-true-kfkex ]] && echo "$KF_KEX" || echo ""; }

check_tools() {
  local tool why
  for tool in $tools; do
    if ! why=$(BENCH_FLOOR_KEX=$(floor_kex_of "$tool") "$(script_of "$tool")" check 2>&1); then
      not_run[$tool]=${why:-check failed}
      note not-run t1 "$tool" - "${not_run[$tool]}"
    fi
  done
  if [[ -n ${not_run[keyfleet]:-} || " $tools " != *" keyfleet "* ]]; then
    kf_push=no
    note not-run t2 keyfleet - "${not_run[keyfleet]:-keyfleet left out by BENCH_TOOLS}"
  else
    kf_push=yes
  fi
}

# Runs one T1 run of TOOL on the current fleet and records it.
t1_run() {  # TOOL N RUN
  local tool=$1 n=$2 run=$3 prefix=$out/runs/t1-n$2-$1-r$3 why="" cpu0 cpu1 alive
  clean_nodes "$BENCH_FLEET"
  read -r cpu0 _ < <(sshd_cpu "$BENCH_FLEET" 10)
  BENCH_FLOOR_KEX=$(floor_kex_of "$tool") timed "$prefix" "$(limit_for "$n")" "$(script_of "$tool")" run
  [[ $tool == ansible ]] && "$bench/peers/ansible.sh" after
  read -r cpu1 alive < <(sshd_cpu "$BENCH_FLEET" 10)
  if ((T_RC != 0)); then
    why="${T_WHY:-exit status $T_RC}: $(last_error "$prefix")"
  elif [[ $tool != ssh-true* ]]; then
    why=$(check_staged_copies "$BENCH_FLEET" "$n" "$BUNDLE_SHA") &&
      why=$("$(script_of "$tool")" digests "$prefix.out" 2>&1 | check_printed_digests "$n" "$BUNDLE_SHA") || true
  fi
  finish_run t1 "$tool" "$n" "$run" "$cpu0" "$cpu1" "$alive" "$why"
}

finish_run() {  # TEST TOOL N RUN CPU0 CPU1 ALIVE WHY
  local test=$1 tool=$2 n=$3 run=$4 why=$8 sshd
  sshd=$(awk -v a="$5" -v b="$6" 'BEGIN { printf "%.2f", b - a }')
  if (($7 > 0)); then
    note info "$test" "$tool" "$n" "run $run: $7 sessions still open 10 s after the run; sshd CPU counts only the finished ones"
  fi
  if [[ -n $why ]]; then
    record "$test" "$n" "$tool" "$run" discarded "$sshd" "$why"
    note discarded "$test" "$tool" "$n" "run $run: $why"
    failures[$tool]=$((${failures[$tool]:-0} + 1))
    return 1
  fi
  record "$test" "$n" "$tool" "$run" ok "$sshd" ""
  failures[$tool]=0
  if [[ $test == create-keys ]]; then
    log "$test $tool run $run: ${T_WALL}s, ${T_RSS} KiB, CPU ${T_CPU}s"
  else
    log "$test N=$n $tool run $run: ${T_WALL}s, ${T_RSS} KiB, CPU ${T_CPU}s client + ${sshd}s sshd"
  fi
}

# T2: push with install, then verify, each a whole process; recorded as two rows of one run.
# TEST x25519 is the push alone, of the X25519 bundle (tool keyfleet-push-x25519).
t2_run() {  # TEST N RUN
  local test=$1 n=$2 run=$3 prefix cpu0 cpu1 alive why="" tool=keyfleet-push sub=push
  [[ $test == x25519 ]] && tool=keyfleet-push-x25519 sub=push-x25519
  clean_nodes "$BENCH_FLEET"
  prefix=$out/runs/$test-n$n-push-r$run
  read -r cpu0 _ < <(sshd_cpu "$BENCH_FLEET" 10)
  timed "$prefix" "$(limit_for "$n")" "$bench/peers/keyfleet.sh" "$sub"
  read -r cpu1 alive < <(sshd_cpu "$BENCH_FLEET" 10)
  if ((T_RC != 0)); then
    why="${T_WHY:-exit status $T_RC}: $(last_error "$prefix")"
  else
    why=$("$BENCH_PYTHON" "$bench/util.py" nodes-ok "$prefix.out" "$n" ok 2>&1) &&
      why=$("$BENCH_PYTHON" "$bench/util.py" installed "$BENCH_FLEET" "$n" "$BENCH_KEYS/manifest.json" 2>&1) || true
  fi
  finish_run "$test" "$tool" "$n" "$run" "$cpu0" "$cpu1" "$alive" "$why" || return 0
  [[ $test == t2 ]] || return 0
  if ((${failures[keyfleet-verify]:-0} >= 2)); then return 0; fi
  prefix=$out/runs/t2-n$n-verify-r$run
  why=""
  read -r cpu0 _ < <(sshd_cpu "$BENCH_FLEET" 10)
  timed "$prefix" "$(limit_for "$n")" "$bench/peers/keyfleet.sh" verify
  read -r cpu1 alive < <(sshd_cpu "$BENCH_FLEET" 10)
  if ((T_RC != 0)); then
    why="${T_WHY:-exit status $T_RC}: $(last_error "$prefix")"
  else
    why=$("$BENCH_PYTHON" "$bench/util.py" nodes-ok "$prefix.out" "$n" ok 2>&1) || true
  fi
  finish_run t2 keyfleet-verify "$n" "$run" "$cpu0" "$cpu1" "$alive" "$why" ||
    if ((${failures[keyfleet-verify]:-0} == 2)); then
      note not-run t2 keyfleet-verify "$n" "given up after 2 failed runs in a row"
    fi
}

# Rotation (issue 15): `rotate --keep-ca` against the same rotation as separate commands
# (create-keys --force --keep-ca, bundle, push, verify, cleanup), alternately on one key directory
# whose first generation every node holds: each run makes and installs the next generation. Both
# seal at keyfleet's default work factor; the separate commands pay scrypt twice (bundle, push),
# rotate once.
bench_rotate() {  # N
  local n=$1 run runs tool prefix why cpu0 cpu1 alive g1=$BENCH_WORK/rotation-g1.kfb
  [[ $kf_push == yes ]] || return 0
  if ! "$kf" rotate --help >/dev/null 2>&1; then
    note not-run rotate keyfleet-rotate "$n" "this keyfleet has no rotate command"
    return 0
  fi
  export BENCH_ROT_KEYS=$BENCH_WORK/rotation-keys
  rm -rf "$BENCH_ROT_KEYS" "$g1"
  clean_nodes "$BENCH_FLEET"
  prefix=$out/runs/rotate-n$n-prepare
  if ! { "$kf" create-keys --out "$BENCH_ROT_KEYS" --inventory "$BENCH_INVENTORY" &&
    "$kf" bundle --keys "$BENCH_ROT_KEYS" --out "$g1" --passphrase-file "$BENCH_PASSPHRASE" &&
    "$kf" push "$g1" --inventory "$BENCH_INVENTORY" --passphrase-file "$BENCH_PASSPHRASE" --yes &&
    "$kf" cleanup --inventory "$BENCH_INVENTORY" --bundle "$g1"; } >"$prefix.out" 2>"$prefix.err"; then
    note not-run rotate keyfleet-rotate "$n" "the first generation did not install: $(last_error "$prefix")"
    return 0
  fi
  if [[ -n $runs_override ]]; then runs=$runs_override; elif ((n >= 100)); then runs=3; else runs=5; fi
  for ((run = 1; run <= runs; run++)); do
    for tool in keyfleet-separate keyfleet-rotate; do
      ((${failures[$tool]:-0} >= 2)) && continue
      prefix=$out/runs/rotate-n$n-${tool#keyfleet-}-r$run
      read -r cpu0 _ < <(sshd_cpu "$BENCH_FLEET" 10)
      timed "$prefix" "$(limit_for "$n")" "$bench/peers/keyfleet.sh" "${tool#keyfleet-}"
      read -r cpu1 alive < <(sshd_cpu "$BENCH_FLEET" 10)
      why=""
      if ((T_RC != 0)); then
        why="${T_WHY:-exit status $T_RC}: $(last_error "$prefix")"
      else
        why=$("$BENCH_PYTHON" "$bench/util.py" nodes-ok "$prefix.out" "$n" ok 2>&1) &&
          why=$("$BENCH_PYTHON" "$bench/util.py" installed "$BENCH_FLEET" "$n" "$BENCH_ROT_KEYS/manifest.json" 2>&1) || true
      fi
      finish_run rotate "$tool" "$n" "$run" "$cpu0" "$cpu1" "$alive" "$why" ||
        if ((${failures[$tool]:-0} == 2)); then
          note not-run rotate "$tool" "$n" "given up after 2 failed runs in a row"
        fi
    done
  done
}

# --- fleets --------------------------------------------------------------------------------------

start_fleet() {  # N DIR
  local log=$out/fleet-$1.log
  log "starting a fleet of $1 sshd nodes"
  fleets+=("$2")
  if ! timeout -k 10 $((60 + $1)) "$top/tests/fleet/fleet.sh" start "$1" "$2" >"$log" 2>&1; then
    "$top/tests/fleet/fleet.sh" stop "$2" >/dev/null 2>&1 || true
    FLEET_ERROR=$(tail -n 1 "$log")
    return 1
  fi
}

# Everything the tools need for one fleet, in $work/nN, exported as BENCH_* for bench/peers/*.sh.
setup_fleet() {  # N FLEET
  local n=$1 fleet=$2 dir=$work/n$1
  mkdir -p "$dir"
  export BENCH_N=$n BENCH_FLEET=$fleet BENCH_WORK=$dir BENCH_INVENTORY=$fleet/inventory.toml
  export BENCH_SSH_CONFIG=$dir/ssh_config BENCH_HOSTS_FILE=$dir/nodes.txt BENCH_BYPORT=$dir/byport
  write_ssh_config "$fleet" "$n" "$fleet/known_hosts" >"$BENCH_SSH_CONFIG"
  node_names "$n" >"$BENCH_HOSTS_FILE"
  write_byport "$fleet" "$n" "$BENCH_BYPORT"
  if [[ " $tools " == *" ansible "* && -z ${not_run[ansible]:-} ]]; then
    "$bench/peers/ansible.sh" setup
  fi
}

# --- key exchange probe --------------------------------------------------------------------------

# A copy of node1's sshd (same config and host key) on its own port with LogLevel DEBUG1: every tool
# connects to it once, and sshd's log says which key exchange, host key type and cipher it got.
stop_probe() {
  if [[ -n $probe_pid ]]; then
    kill -TERM "$probe_pid" 2>/dev/null || true
    wait "$probe_pid" 2>/dev/null || true
    probe_pid=""
  fi
}

free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

probe_kex() {
  local fleet=$BENCH_FLEET dir=$work/probe port tool before line kex hostkey cipher
  KF_KEX=curve25519-sha256
  KF_KEX_NOTE="not measured: assumed libssh 0.10's first choice"
  mkdir -p "$dir/dest" "$dir/staging"
  printf 'tool\tkex\thost_key\tcipher\tnote\n' >"$out/kex.tsv"
  port=$(free_port) || { note info kex - - "no free port for the probe sshd"; return 0; }
  /usr/sbin/sshd -D -f "$fleet/nodes/node1/sshd_config" -p "$port" -o "PidFile=$dir/sshd.pid" \
    -o LogLevel=DEBUG1 -E "$dir/sshd.log" </dev/null >/dev/null 2>&1 &
  probe_pid=$!
  local deadline=$((SECONDS + 10))
  until [[ -s $dir/sshd.pid ]] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ((SECONDS > deadline)) || ! kill -0 "$probe_pid" 2>/dev/null; then
      note info kex - - "the probe sshd did not start: $(tail -n 1 "$dir/sshd.log" 2>/dev/null)"
      stop_probe
      return 0
    fi
    sleep 0.05
  done
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$fleet/nodes/node1/ssh_host_ed25519_key.pub")" >"$dir/known_hosts"
  {
    write_ssh_config "$fleet" 0 "$dir/known_hosts"
    printf 'Host probe\n  HostName 127.0.0.1\n  Port %s\n' "$port"
  } >"$dir/ssh_config"
  {
    echo "[defaults]"
    echo "user = \"$(id -un)\""
    echo "identity_file = \"$fleet/client_key\""
    echo "known_hosts = \"$dir/known_hosts\""
    echo "connect_timeout = 5"
    echo "timeout = 60"
    printf '\n[[node]]\nname = "probe"\nhost = "127.0.0.1"\nport = %s\n' "$port"
    printf 'dest = "%s"\nstaging = "%s"\n' "$dir/dest" "$dir/staging"
  } >"$dir/inventory.toml"
  for tool in $tools; do
    [[ -n ${not_run[$tool]:-} ]] && continue
    before=$(wc -l <"$dir/sshd.log")
    BENCH_SSH_CONFIG=$dir/ssh_config BENCH_PROBE_PORT=$port BENCH_PROBE_INVENTORY=$dir/inventory.toml \
      BENCH_FLOOR_KEX=$(floor_kex_of "$tool") \
      timeout -k 5 60 "$(script_of "$tool")" probe probe >"$out/runs/probe-$tool.out" 2>&1 </dev/null || true
    kex="" hostkey="" cipher=""
    while IFS= read -r line; do
      line=${line%$'\r'}
      line=${line% \[preauth\]}
      case $line in
        *"kex: algorithm: "*) kex=${line##*kex: algorithm: } ;;
        *"kex: host key algorithm: "*) hostkey=${line##*kex: host key algorithm: } ;;
        *"kex: client->server cipher: "*) cipher=${line##*client->server cipher: } cipher=${cipher%% *} ;;
      esac
    done < <(tail -n +"$((before + 1))" "$dir/sshd.log")
    if [[ -z $kex ]]; then
      printf '%s\t-\t-\t-\tno connection reached the probe: %s\n' "$tool" \
        "$(grep -v '^\s*$' "$out/runs/probe-$tool.out" | tail -n 1 | cut -c1-150)" >>"$out/kex.tsv"
      continue
    fi
    printf '%s\t%s\t%s\t%s\tlogged by sshd\n' "$tool" "$kex" "$hostkey" "$cipher" >>"$out/kex.tsv"
    if [[ $tool == keyfleet ]]; then
      KF_KEX=$kex
      KF_KEX_NOTE="as keyfleet negotiated it"
    fi
  done
  stop_probe
  printf 'floor_kex\t%s (%s)\n' "$KF_KEX" "$KF_KEX_NOTE" >>"$out/config.tsv"
}

# --- the benchmarks ------------------------------------------------------------------------------

bench_create_keys() {
  local key_type run impl prefix dir why hosts
  hosts=$(key_hosts | tr '\n' ' ')
  local kf_ok=yes
  if ! [[ -x $kf ]] || ! "$kf" create-keys --help >/dev/null 2>&1; then
    kf_ok=no
    note not-run create-keys keyfleet - "this keyfleet has no create-keys command"
  fi
  for key_type in ec-p256 rsa-3072; do
    for ((run = 1; run <= key_runs; run++)); do
      for impl in keyfleet openssl; do
        [[ $impl == keyfleet && $kf_ok == no ]] && continue
        prefix=$out/runs/create-keys-$key_type-$impl-r$run
        dir=$work/keys-$impl-$key_type
        rm -rf "$dir"
        if [[ $impl == keyfleet ]]; then
          timed "$prefix" 300 "$kf" create-keys --out "$dir" --inventory "$work/keys-inventory.toml" --key-type "$key_type"
        else
          # shellcheck disable=SC2086
          timed "$prefix" 300 "$bench/openssl-create-keys.sh" "$dir" "$key_type" $hosts
        fi
        why=""
        if ((T_RC != 0)); then
          why="${T_WHY:-exit status $T_RC}: $(last_error "$prefix")"
        else
          why=$(check_keyset "$dir")
        fi
        finish_run create-keys "$impl-$key_type" 10 "$run" 0 0 0 "$why" || true
      done
    done
  done
}

# The key set has its files and a SAN for every host.
check_keyset() {  # DIR
  local file san host
  for file in ca.crt agent.crt agent.key keystore.p12 truststore.p12; do
    [[ -s $1/$file ]] || { echo "no $file"; return 0; }
  done
  san=$(openssl x509 -in "$1/agent.crt" -noout -ext subjectAltName 2>&1)
  for host in $(key_hosts); do
    [[ $san == *"$host"[,$'\n']* || $san == *"$host" ]] || { echo "agent.crt has no SAN for $host"; return 0; }
  done
}

declare -A failures=()

# Where push's peak RSS goes, at the largest N: the one scrypt decryption alone (`inspect` with the
# passphrase: no connection at all), and `push --no-install` of the same key set in a bundle at
# work factor 10 (1 MiB of scrypt memory instead of 256 MiB at the default 18).
bench_memory() {  # N
  local n=$1 prefix why cpu0 cpu1 alive light=$work/bundle-wf10.kfb light_sha saved_bundle=$BENCH_BUNDLE
  prefix=$out/runs/memory-n$n-decrypt
  timed "$prefix" 300 "$kf" inspect "$BENCH_BUNDLE" --passphrase-file "$BENCH_PASSPHRASE"
  why=""
  ((T_RC == 0)) || why="${T_WHY:-exit status $T_RC}: $(last_error "$prefix")"
  finish_run memory keyfleet-decrypt "$n" 1 0 0 0 "$why" || true

  # The X25519 decryption, as a whole `inspect --identity` process (start-up included), 5 runs.
  local run
  if [[ -n $BENCH_X25519_BUNDLE ]]; then
    for run in 1 2 3 4 5; do
      prefix=$out/runs/memory-n$n-decrypt-x25519-r$run
      timed "$prefix" 60 "$kf" inspect "$BENCH_X25519_BUNDLE" --identity "$BENCH_IDENTITY"
      why=""
      ((T_RC == 0)) || why="${T_WHY:-exit status $T_RC}: $(last_error "$prefix")"
      finish_run memory keyfleet-decrypt-x25519 "$n" "$run" 0 0 0 "$why" || true
    done
  fi
  decrypt_times

  prefix=$out/runs/memory-n$n-wf10
  if ! "$kf" bundle --keys "$BENCH_KEYS" --out "$light" --passphrase-file "$BENCH_PASSPHRASE" \
      --work-factor 10 >"$prefix-bundle.out" 2>"$prefix-bundle.err"; then
    note not-run memory keyfleet-wf10 "$n" "bundle --work-factor 10 failed: $(last_error "$prefix-bundle")"
    return 0
  fi
  light_sha=$(sha256sum "$light" | cut -d' ' -f1)
  clean_nodes "$BENCH_FLEET"
  read -r cpu0 _ < <(sshd_cpu "$BENCH_FLEET" 10)
  BENCH_BUNDLE=$light
  timed "$prefix" "$(limit_for "$n")" "$bench/peers/keyfleet.sh" run
  BENCH_BUNDLE=$saved_bundle
  read -r cpu1 alive < <(sshd_cpu "$BENCH_FLEET" 10)
  why=""
  if ((T_RC != 0)); then
    why="${T_WHY:-exit status $T_RC}: $(last_error "$prefix")"
  else
    why=$(check_staged_copies "$BENCH_FLEET" "$n" "$light_sha") || true
  fi
  finish_run memory keyfleet-wf10 "$n" 1 "$cpu0" "$cpu1" "$alive" "$why" || true
  rm -f "$light"
}

# The opening of each bundle in memory alone (keyfleet-bench-decrypt, built beside keyfleet: no
# process start-up, no file reading), to decrypt.tsv: kind, median, min and max ms, runs.
decrypt_times() {
  local timer prefix=$out/runs/decrypt-times line
  timer=$(dirname "$kf")/keyfleet-bench-decrypt
  if [[ ! -x $timer ]]; then
    note not-run decrypt keyfleet - "no $timer (make build)"
    return 0
  fi
  printf 'kind\tmedian_ms\tmin_ms\tmax_ms\truns\n' >"$out/decrypt.tsv"
  if [[ -n $BENCH_X25519_BUNDLE ]] &&
    line=$("$timer" "$BENCH_X25519_BUNDLE" --identity "$BENCH_IDENTITY" 200 2>"$prefix-x25519.err"); then
    printf 'x25519\t%s\n' "${line// /$'\t'}" >>"$out/decrypt.tsv"
  elif [[ -n $BENCH_X25519_BUNDLE ]]; then
    note not-run decrypt keyfleet-x25519 - "$(last_error "$prefix-x25519")"
  fi
  if line=$("$timer" "$BENCH_BUNDLE" --passphrase-file "$BENCH_PASSPHRASE" 3 2>"$prefix-scrypt.err"); then
    printf 'scrypt\t%s\n' "${line// /$'\t'}" >>"$out/decrypt.tsv"
  else
    note not-run decrypt keyfleet-scrypt - "$(last_error "$prefix-scrypt")"
  fi
}

bench_size() {  # N
  local n=$1 fleet=$work/fleet-$1 runs run tool
  if [[ -n $runs_override ]]; then runs=$runs_override; elif ((n >= 100)); then runs=3; else runs=5; fi
  if ! start_fleet "$n" "$fleet"; then
    note not-run t1 all "$n" "the fleet of $n nodes did not start: $FLEET_ERROR"
    return 0
  fi
  setup_fleet "$n" "$fleet"
  [[ -s $out/kex.tsv ]] || probe_kex
  failures=()
  for ((run = 1; run <= runs; run++)); do
    for tool in $tools; do
      [[ -n ${not_run[$tool]:-} ]] && continue
      if ((${failures[$tool]:-0} >= 2)); then continue; fi
      t1_run "$tool" "$n" "$run" || true
      if ((${failures[$tool]:-0} == 2)); then
        note not-run t1 "$tool" "$n" "given up after 2 failed runs in a row (see the discarded runs)"
      fi
    done
    if [[ $kf_push == yes ]] && ((${failures[keyfleet-push]:-0} < 2)); then
      t2_run t2 "$n" "$run"
      ((${failures[keyfleet-push]:-0} == 2)) && note not-run t2 keyfleet-push "$n" "given up after 2 failed runs in a row"
    fi
    if [[ $kf_push == yes && -n $BENCH_X25519_BUNDLE ]] && ((${failures[keyfleet-push-x25519]:-0} < 2)); then
      t2_run x25519 "$n" "$run" || true
      ((${failures[keyfleet-push-x25519]:-0} == 2)) && note not-run x25519 keyfleet-push-x25519 "$n" "given up after 2 failed runs in a row"
    fi
  done
  if [[ ${BENCH_ROTATE:-1} != 0 ]]; then bench_rotate "$n"; fi
  if [[ $kf_push == yes && $n == "$largest" ]]; then bench_memory "$n"; fi
  "$top/tests/fleet/fleet.sh" stop "$fleet" >/dev/null 2>&1 || true
  rm -rf "$fleet"
}

# The largest fleet that fits: about 16 MiB of memory and a few processes per node to spare.
scale_size() {
  local want=$1 mem procs
  mem=$(awk '/^MemAvailable/ { printf "%d", $2 / 16384 }' /proc/meminfo)
  procs=$(( $(ulimit -u 2>/dev/null | sed 's/unlimited/1000000/') / 4 ))
  ((want > mem)) && want=$mem
  ((want > procs)) && want=$procs
  echo "$want"
}

bench_scale() {
  if [[ $scale == 0 ]]; then
    note not-run scale keyfleet-push - "BENCH_SCALE=0"
    return 0
  fi
  if [[ $kf_push != yes ]]; then
    note not-run scale keyfleet-push - "${not_run[keyfleet]:-keyfleet left out}"
    return 0
  fi
  local n run runs fleet
  n=$(scale_size "$scale_nodes")
  ((n < scale_nodes)) && note info scale keyfleet-push "$n" "this machine holds $n nodes, not $scale_nodes"
  while true; do
    fleet=$work/fleet-scale-$n
    start_fleet "$n" "$fleet" && break
    note info scale keyfleet-push "$n" "the fleet of $n nodes did not start: $FLEET_ERROR"
    rm -rf "$fleet"
    n=$((n / 2))
    if ((n < 100)); then
      note not-run scale keyfleet-push - "no fleet of 100 or more nodes would start"
      return 0
    fi
  done
  setup_fleet "$n" "$fleet"
  runs=${runs_override:-3}
  ((runs > 3)) && runs=3
  failures=()
  for ((run = 1; run <= runs; run++)); do
    ((${failures[keyfleet-push]:-0} >= 2)) && break
    t2_run scale "$n" "$run"
  done
  "$top/tests/fleet/fleet.sh" stop "$fleet" >/dev/null 2>&1 || true
  rm -rf "$fleet"
}

{
  printf 'nodes\t%s\n' "$nodes_list"
  printf 'runs\t%s\n' "${runs_override:-5 (3 at N >= 100)}"
  printf 'key_runs\t%s\n' "$key_runs"
  printf 'fanout\t%s\n' "$BENCH_FANOUT"
  printf 'forks\t%s\n' "$BENCH_FORKS"
  printf 'kf_parallel\t%s\n' "${BENCH_KF_PARALLEL:-keyfleet default}"
  printf 'work_factor\t%s\n' "${BENCH_WORK_FACTOR:-keyfleet default}"
  printf 'peer_kex\t%s\n' "${BENCH_PEER_KEX:-OpenSSH default}"
  printf 'tools\t%s\n' "$tools"
} >"$out/config.tsv"
write_machine
write_versions
KF_KEX=curve25519-sha256
prepare_bundle
prepare_x25519_bundle
check_tools
log "bundle: $(stat -c %s "$BENCH_BUNDLE") bytes, sha256 $BUNDLE_SHA"
bench_create_keys
largest=$(printf '%s\n' $nodes_list | sort -n | tail -n 1)
for n in $nodes_list; do
  bench_size "$n"
done
bench_scale
printf 'load_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.tsv"
printf 'date_end\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$out/machine.tsv"

cp "$csv" "$bench/results.csv"
"$BENCH_PYTHON" "$bench/report.py" "$out" "$bench" "$top/README.md"
log "done: bench/RESULTS.md, bench/results.png, bench/results.csv (raw outputs in bench/out/)"
