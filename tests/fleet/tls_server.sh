#!/usr/bin/env bash
# A node's agent for the served-certificate tests: `openssl s_server` serving a certificate and key
# on 127.0.0.1, as a real agent serves DEST/current/agent.crt. It reads its files when it starts,
# so a server that is not restarted after an install keeps serving the old certificate.
#
#   tls_server.sh start DIR PORT CERT KEY [CLIENT_CA [SNI_NAME SNI_CERT SNI_KEY]]
#                                           serve CERT and KEY on 127.0.0.1:PORT (DIR: its state);
#                                           with CLIENT_CA (may be ""), require a client certificate
#                                           it signed; with SNI_NAME, serve SNI_CERT and SNI_KEY to
#                                           a client that asks for that name (TLS SNI)
#   tls_server.sh restart DIR               stop, then start again with the same port and paths
#   tls_server.sh stop DIR                  stop it (SIGTERM, then SIGKILL after 5 s)
#
# Used as a node's post hook (`tls_server.sh restart DIR`): it detaches from the hook's output.
set -euo pipefail

readonly START_TIMEOUT=10  # seconds for the server to listen
readonly STOP_TIMEOUT=5    # seconds for it to exit after SIGTERM

die() {
  echo "tls_server.sh: $*" >&2
  exit 1
}

listening() {  # PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The recorded PID, only while it is still an s_server (a reused PID is never signalled).
server_pid() {  # DIR
  local pid
  [[ -f $1/pid ]] || return 1
  pid=$(cat "$1/pid")
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q s_server || return 1
  echo "$pid"
}

start() {  # DIR PORT CERT KEY [CLIENT_CA [SNI_NAME SNI_CERT SNI_KEY]]
  local dir=$1 port=$2 cert=$3 key=$4 client_ca=${5:-} sni_name=${6:-} sni_cert=${7:-} sni_key=${8:-}
  local verify=() sni=()
  mkdir -p "$dir"
  printf '%s\n' "$port" >"$dir/port"
  printf '%s\n' "$cert" >"$dir/cert"
  printf '%s\n' "$key" >"$dir/key"
  printf '%s\n' "$client_ca" >"$dir/client_ca"
  printf '%s\n' "$sni_name" "$sni_cert" "$sni_key" >"$dir/sni"
  [[ -z $sni_name ]] || sni=(-servername "$sni_name" -cert2 "$sni_cert" -key2 "$sni_key")
  # -Verify (capital): a client without a certificate CLIENT_CA signed fails the handshake. TLS 1.2
  # only, so that it fails in the client's handshake too (in TLS 1.3 the client has finished
  # before the server judges its certificate).
  [[ -z $client_ca ]] || verify=(-Verify 1 -CAfile "$client_ca" -no_tls1_3)
  setsid openssl s_server -accept "127.0.0.1:$port" -cert "$cert" -key "$key" "${verify[@]}" "${sni[@]}" -quiet \
    </dev/null >>"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 $((START_TIMEOUT * 20))); do
    listening "$port" && return 0
    server_pid "$dir" >/dev/null || die "s_server exited at once: $(tail -n 3 "$dir/log")"
    sleep 0.05
  done
  die "s_server did not listen on 127.0.0.1:$port within ${START_TIMEOUT}s"
}

stop() {  # DIR
  local pid
  pid=$(server_pid "$1") || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((STOP_TIMEOUT * 20))); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
}

case ${1:-} in
  start)
    [[ $# -eq 5 || $# -eq 6 || $# -eq 9 ]] ||
      die "usage: start DIR PORT CERT KEY [CLIENT_CA [SNI_NAME SNI_CERT SNI_KEY]]"
    start "${@:2}"
    ;;
  restart)
    [[ $# -eq 2 ]] || die "usage: restart DIR"
    stop "$2"
    mapfile -t sni <"$2/sni"
    start "$2" "$(cat "$2/port")" "$(cat "$2/cert")" "$(cat "$2/key")" "$(cat "$2/client_ca")" \
      "${sni[@]}"
    ;;
  stop)
    [[ $# -eq 2 ]] || die "usage: stop DIR"
    stop "$2"
    ;;
  *)
    die "usage: tls_server.sh start DIR PORT CERT KEY [CLIENT_CA [SNI_NAME SNI_CERT SNI_KEY]] | restart DIR | stop DIR"
    ;;
esac
