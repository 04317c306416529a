#!/usr/bin/env bash
# T1 peer: one ansible-playbook run: copy the file, then `command: sha256sum` on every node.
# Ansible's own defaults (its ssh connection with ControlPersist) plus: pipelining on, forks 50,
# host_key_checking on, no fact gathering, the interpreter named (no discovery round trip), and the
# bench's ssh configuration through ansible_ssh_common_args.
# Subcommands (see bench/run.sh): check, version, setup, run, digests OUTFILE, after, probe HOST.
set -euo pipefail

dir=${BENCH_WORK:-/nonexistent}/ansible
export ANSIBLE_CONFIG=$dir/ansible.cfg ANSIBLE_HOME=$dir/home
export ANSIBLE_SSH_CONTROL_PATH_DIR=$dir/cp ANSIBLE_NOCOLOR=1
python=$(command -v python3 2>/dev/null || echo /usr/bin/python3)
[[ -x /usr/bin/python3 ]] && python=/usr/bin/python3

inventory_line() {  # NAME PORT STAGING
  printf '%s ansible_host=127.0.0.1 ansible_port=%s staging=%s\n' "$1" "$2" "$3"
}

# The group's connection settings, shared by the fleet's inventory and the probe's.
group_vars() {  # SSH_CONFIG
  printf '[fleet:vars]\nansible_user=%s\n' "$(id -un)"
  printf "ansible_ssh_common_args='-F %s'\n" "$1"
  printf 'ansible_python_interpreter=%s\n' "$python"
}

# Closes the ControlPersist masters a run left, so the next run starts without warm connections
# (and its sshd sessions end, for the CPU accounting).
close_masters() {
  local sock
  for sock in "$dir"/cp/*; do
    [[ -S $sock ]] || continue
    timeout 10 ssh -F "$BENCH_SSH_CONFIG" -o ControlPath="$sock" -O exit ansible-master >/dev/null 2>&1 || true
    rm -f "$sock"
  done
}

case ${1:-} in
  check)
    command -v ansible-playbook >/dev/null || { echo "ansible-playbook not installed (Debian package ansible-core)"; exit 1; }
    [[ -x $python ]] || { echo "python3 not found (ansible needs it on the nodes)"; exit 1; }
    ;;
  version) ansible --version 2>/dev/null | sed -n 1p ;;
  setup)
    mkdir -p "$dir/tmp" "$dir/cp" "$dir/home"
    {
      echo "[fleet]"
      for ((k = 1; k <= BENCH_N; k++)); do
        inventory_line "node$k" "$(<"$BENCH_FLEET/nodes/node$k/port")" "$BENCH_FLEET/nodes/node$k/staging"
      done
      group_vars "$BENCH_SSH_CONFIG"
    } >"$dir/inventory.ini"
    cat >"$dir/ansible.cfg" <<CFG
[defaults]
inventory = $dir/inventory.ini
forks = $BENCH_FORKS
host_key_checking = True
gathering = explicit
retry_files_enabled = False
local_tmp = $dir/tmp
stdout_callback = oneline
interpreter_python = $python
[ssh_connection]
pipelining = True
control_path_dir = $dir/cp
CFG
    cat >"$dir/t1.yml" <<YML
- hosts: fleet
  gather_facts: false
  tasks:
    - name: copy the bundle
      ansible.builtin.copy:
        src: $BENCH_BUNDLE
        dest: "{{ staging }}/bundle.kfb"
        mode: "0600"
    - name: its digest
      ansible.builtin.command: sha256sum "{{ staging }}/bundle.kfb"
      changed_when: false
YML
    ;;
  run) ansible-playbook "$dir/t1.yml" ;;
  # The oneline callback prints "node1 | SUCCESS | rc=0 | (stdout) <hex>  <path>" for the command.
  digests)
    awk '$2 == "|" { for (i = 1; i < NF; i++) if ($i == "(stdout)") print $1, $(i + 1) }' "$2"
    ;;
  after) close_masters ;;
  probe)
    mkdir -p "$dir/cp" "$dir/home" "$dir/tmp"
    { echo "[fleet]"; inventory_line "$2" "$BENCH_PROBE_PORT" /nonexistent; group_vars "$BENCH_SSH_CONFIG"; } \
      >"$dir/probe.ini"
    rc=0
    ansible -i "$dir/probe.ini" "$2" -m ansible.builtin.command -a true || rc=$?
    close_masters
    exit "$rc"
    ;;
  *) echo "usage: $0 check|version|setup|run|digests FILE|after|probe HOST" >&2; exit 2 ;;
esac
