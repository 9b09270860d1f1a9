#!/usr/bin/env bash
# The demo (`make demo`): the AF_XDP QUIC relay carrying a client's traffic, end to end.
#
#   client ns (oxidize-client, TUN oxc0)  --QUIC/UDP-->  relay ns (oxidize-dataplane relay,
#   XDP + AF_XDP on a 2-queue veth, 2 workers, NAT egress)  -->  internet ns (servers)
#
# Builds (release), makes the three namespaces with the test bed, starts the relay and a
# client, pings and downloads through the tunnel, prints the relay's /metrics summary, and
# removes everything it created, also on Ctrl-C or on an error.
#
# Environment: DEMO_MIB (download size, default 64), DEMO_KEEP_LOGS=1 (keep the log dir).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ $(id -u) -ne 0 ]]; then
  echo "the demo creates network namespaces: run it as root (sudo make demo)" >&2
  exit 1
fi
for tool in ip openssl ping; do
  command -v "$tool" >/dev/null || { echo "missing '$tool': run 'make setup' (scripts/setup.sh) first" >&2; exit 1; }
done

MIB="${DEMO_MIB:-64}"
PORT=4433
METRICS=127.0.0.1:9464
NAME=relay.oxidize.demo
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
WORK="$(mktemp -d /tmp/oxidize-demo.XXXXXX)"
BED_PID="" RELAY_PID="" CLIENT_PID=""

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

stop_pid() { # pid signal seconds
  local pid="$1" sig="$2" secs="$3"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq $((secs * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  step "tearing down"
  stop_pid "$CLIENT_PID" TERM 5 && [[ -n "$CLIENT_PID" ]] && echo "client stopped (TUN device and routes removed)"
  stop_pid "$RELAY_PID" TERM 10 && [[ -n "$RELAY_PID" ]] && echo "relay stopped (GOAWAY sent, XDP detached, TUN and NAT removed)"
  stop_pid "$BED_PID" TERM 10 && [[ -n "$BED_PID" ]] && echo "namespaces removed"
  wait 2>/dev/null || true
  if [[ $rc -ne 0 ]]; then
    for log in "$WORK"/*.log; do [[ -s "$log" ]] && { echo "--- $(basename "$log") (last lines)"; tail -n 20 "$log"; }; done
  fi
  if [[ "${DEMO_KEEP_LOGS:-0}" == 1 ]]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "interrupted"; exit 130' INT TERM

wait_for() { # seconds description command...
  local secs="$1" what="$2"; shift 2
  for _ in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out after ${secs}s waiting for $what" >&2
  return 1
}

step "building (release): oxidize-dataplane, oxidize-client, oxidize-testbed"
cargo build --release -q -p oxidize-dataplane -p oxidize-testbed

step "making the client, relay and internet namespaces (relay veth with 2 queues)"
"$BIN/oxidize-testbed" up --state "$WORK/bed" --queues 2 2>"$WORK/bed.log" &
BED_PID=$!
wait_for 20 "the test bed" test -s "$WORK/bed"
# shellcheck disable=SC1090
source "$WORK/bed"
echo "client=$client relay=$relay internet=$internet"
# For foreground commands only: a backgrounded shell function would be a subshell whose pid
# is not the program's.
in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

step "TLS certificate (demo CA) and a client token"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=Oxidize demo CA" -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$NAME" \
  -keyout "$WORK/tls.key" -out "$WORK/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s\n' "$NAME" >"$WORK/san.ext"
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 1 -extfile "$WORK/san.ext" -out "$WORK/tls.crt" 2>/dev/null
mkdir -p "$WORK/tokens"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/tokens/demo"
cp "$WORK/tokens/demo" "$WORK/client.token"
cat >"$WORK/relay.yaml" <<YAML
apiVersion: relay.oxidize.dev/v1alpha1
kind: DataplaneConfig
interface: r-cli
queues: 2
workerCores: [0, 1]
port: $PORT
metricsAddr: "$METRICS"
tlsCertFile: $WORK/tls.crt
tlsKeyFile: $WORK/tls.key
tokensDir: $WORK/tokens
clientPoolIpv4: "10.99.0.0/24"
clientPoolIpv6: "fd99::/64"
egress: nat
zeroCopy: auto
busyPoll: false
relay:
  egressInterface: r-wan
YAML
echo "config: $WORK/relay.yaml (pool 10.99.0.0/24 + fd99::/64, egress NAT via r-wan)"

step "starting the relay on AF_XDP (r-cli, 2 queues, 2 workers)"
# The relay only checks forwarding (its NAT egress needs it); on a node the tune step sets it.
ip netns exec "$relay" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
# `ip netns exec` execs the program, so $! is the relay's own pid (signals reach it directly).
ip netns exec "$relay" "$BIN/oxidize-dataplane" relay --config "$WORK/relay.yaml" --io xdp >"$WORK/relay.log" 2>&1 &
RELAY_PID=$!
wait_for 30 "the relay's /readyz" in_ns "$relay" "$BIN/oxidize-testbed" http-get "$METRICS" /readyz
echo "relay ready: XDP program attached to r-cli, AF_XDP sockets on queues 0 and 1"
in_ns "$relay" ip -d link show dev r-cli | grep -o 'prog/xdp id [0-9]*' || true

step "starting oxidize-client (full tunnel through TUN oxc0)"
ip netns exec "$client" "$BIN/oxidize-client" "10.77.1.1:$PORT" --server-name "$NAME" \
  --ca-file "$WORK/ca.pem" --token-file "$WORK/client.token" --tun oxc0 --status-interval 0 \
  >"$WORK/client.log" 2>&1 &
CLIENT_PID=$!
wait_for 20 "the tunnel address" bash -c "ip -n '$client' -4 -o addr show dev oxc0 | grep -q 10.99."
ip -n "$client" -o addr show dev oxc0 | awk '{print "client address:", $4}'
ip -n "$client" -o link show dev oxc0 | grep -o 'mtu [0-9]*' | sed 's/^/TUN /'
ip -n "$client" route show | sed 's/^/route: /'

step "ping 10.77.2.2 (internet host) through the tunnel"
in_ns "$client" ping -n -c 5 -i 0.2 10.77.2.2 | tail -n 3

step "IPv6 ping fd77:2::2 through the tunnel"
wait_for 10 "the tunnel's IPv6 address" bash -c "ip -n '$client' -6 -o addr show dev oxc0 scope global | grep -q fd99"
in_ns "$client" ping -n -c 3 -i 0.2 fd77:2::2 | tail -n 2

step "downloading $MIB MiB over TCP through the tunnel (sha256 checked)"
in_ns "$client" "$BIN/oxidize-testbed" download "10.77.2.2:9009" --bytes $((MIB * 1024 * 1024))

step "client status (SIGUSR1)"
kill -USR1 "$CLIENT_PID"
sleep 0.3
grep '^status:' "$WORK/client.log" | tail -n 1

step "relay /metrics summary"
in_ns "$relay" "$BIN/oxidize-testbed" http-get "$METRICS" /metrics >"$WORK/metrics.txt"
m() { awk -v n="$1" -v l="${2:-}" '$1 !~ /^#/ { split($1, a, "{"); if (a[1] == n && index($1, l)) s += $2 } END { printf "%d", s }' "$WORK/metrics.txt"; }
printf '%-34s %s\n' \
  "connections (open)" "$(m oxidize_relay_connections)" \
  "CONNECT-IP sessions (open)" "$(m oxidize_relay_sessions)" \
  "handshakes accepted" "$(m oxidize_relay_handshakes_total accepted)" \
  "packets client -> internet" "$(m oxidize_relay_tunnel_packets_total to_internet)" \
  "bytes   client -> internet" "$(m oxidize_relay_tunnel_bytes_total to_internet)" \
  "packets internet -> client" "$(m oxidize_relay_tunnel_packets_total to_client)" \
  "bytes   internet -> client" "$(m oxidize_relay_tunnel_bytes_total to_client)" \
  "drops (all reasons)" "$(m oxidize_relay_drops_total)" \
  "auth failures" "$(m oxidize_relay_auth_failures_total)"

echo
echo "demo passed: the relay carried ping and a checksummed download over QUIC/MASQUE CONNECT-IP on AF_XDP."
