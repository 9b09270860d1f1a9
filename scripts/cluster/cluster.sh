#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, built from source (scripts/cluster/build.sh).
#
#   cluster.sh build              build etcd + Kubernetes (cached; a second run builds nothing)
#   cluster.sh up [ARCHIVE...]    start it and load OCI image archives into the node
#   cluster.sh load ARCHIVE...    load more image archives into the running node
#   cluster.sh down               stop exactly what `up` started and remove what it made
#   cluster.sh status             what runs, and the kubeconfig path
#   cluster.sh restart-apiserver  stop and start kube-apiserver (tests of reconnecting clients)
#   cluster.sh env                `export KUBECONFIG=...` for eval
#
# Layout: the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
# runs in the root network namespace but listens only on the host end of a veth
# (10.213.0.1) and loopback; the node (containerd + kubelet + kube-proxy) runs in its own
# network namespace (`oxk-node`, 10.213.0.2) and a private mount namespace, so hostNetwork
# pods land there and never on the machine's interfaces, and the kubelet's global sysctl
# writes hit plain files instead of the host (see ENVIRONMENT.md). Nothing of the host
# (interfaces, IRQs, sysctls, iptables) is changed; `down` removes every mount, cgroup,
# namespace, link and route `up` made. State: $OXIDIZE_CLUSTER_HOME/run (default .cluster/run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/cluster/versions.sh
source "$ROOT/scripts/cluster/versions.sh"

HOME_DIR="${OXIDIZE_CLUSTER_HOME:-$ROOT/.cluster}"
BIN="$HOME_DIR/bin"
RUN="$HOME_DIR/run"
PKI="$RUN/pki"
LOGS="$RUN/logs"
NODE_NS=oxk-node
NODE_NAME=oxidize-node
HOST_IF=oxk-host
NODE_IF=oxk-eth0
HOST_IP=10.213.0.1
NODE_IP=10.213.0.2
POD_CIDR=10.214.0.0/24
SERVICE_CIDR=10.215.0.0/24
API_SERVICE_IP=10.215.0.1
API_PORT=6443
ETCD_PORT=23790
ETCD_PEER_PORT=23800
PAUSE_IMAGE=oxidize.local/pause:3.10-oxidize
export KUBECONFIG="$RUN/admin.kubeconfig"
export PATH="$BIN:$PATH"

start=$SECONDS
say() { printf '[cluster %4ss] %s\n' "$((SECONDS - start))" "$*"; }
die() { printf 'cluster: %s\n' "$*" >&2; exit 1; }

need_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, mounts, containerd)"
  command -v containerd >/dev/null && command -v runc >/dev/null && [[ -x /usr/lib/cni/bridge ]] \
    || die "containerd, runc and the CNI plugins are missing: run scripts/setup.sh (apt containerd runc containernetworking-plugins)"
}

# Alive and not a zombie: our daemons outlive the `up` shell, and their new parent may reap
# them late, so `kill -0` alone would wait for a process that has already exited.
running() { local st; st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)"; [[ -n "$st" && "$st" != Z ]]; }
pid_alive() { [[ -f "$1" ]] && running "$(cat "$1")"; }

# ---- certificates ----------------------------------------------------------------------------
cert() { # name CN O [SANs]
  local name="$1" cn="$2" org="$3" sans="${4:-}"
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [[ -n "$sans" ]] && echo "subjectAltName=$sans"
  } >"$ext"
  local subj="/CN=$cn"
  [[ -n "$org" ]] && subj="/O=$org$subj"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" \
    -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 30 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
}

kubeconfig() { # file user-cert-name server
  local file="$1" name="$2" server="$3"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: oxidize-local
  cluster:
    certificate-authority: $PKI/ca.crt
    server: $server
users:
- name: $name
  user:
    client-certificate: $PKI/$name.crt
    client-key: $PKI/$name.key
contexts:
- name: oxidize-local
  context: {cluster: oxidize-local, user: $name}
current-context: oxidize-local
EOF
}

make_pki() {
  mkdir -p "$PKI"
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -days 30 \
    -subj "/CN=oxidize-local-ca" -out "$PKI/ca.crt" 2>/dev/null
  cert apiserver kube-apiserver "" \
    "IP:$HOST_IP,IP:127.0.0.1,IP:$API_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin oxidize-admin system:masters
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert controller-manager system:kube-controller-manager ""
  cert scheduler system:kube-scheduler ""
  cert kube-proxy system:kube-proxy ""
  cert kubelet "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME"
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  local server="https://$HOST_IP:$API_PORT"
  kubeconfig "$RUN/admin.kubeconfig" admin "$server"
  kubeconfig "$RUN/controller-manager.kubeconfig" controller-manager "$server"
  kubeconfig "$RUN/scheduler.kubeconfig" scheduler "$server"
  kubeconfig "$RUN/kube-proxy.kubeconfig" kube-proxy "$server"
  kubeconfig "$RUN/kubelet.kubeconfig" kubelet "$server"
}

# ---- the node's network namespace ------------------------------------------------------------
make_netns() {
  ip netns add "$NODE_NS"
  ip link add "$HOST_IF" type veth peer name "$NODE_IF" netns "$NODE_NS"
  ip addr add "$HOST_IP/30" dev "$HOST_IF"
  ip link set "$HOST_IF" up
  ip -n "$NODE_NS" addr add "$NODE_IP/30" dev "$NODE_IF"
  ip -n "$NODE_NS" link set lo up
  ip -n "$NODE_NS" link set "$NODE_IF" up
  ip -n "$NODE_NS" route add default via "$HOST_IP"
  # Services have their own route, so a test that points the node's default route elsewhere
  # (an "internet" namespace) keeps them.
  ip -n "$NODE_NS" route add "$SERVICE_CIDR" via "$HOST_IP"
  # The pod network lives in the node namespace; the apiserver (root namespace) reaches pods
  # (logs, exec, port-forward, metrics) through the veth.
  ip route add "$POD_CIDR" via "$NODE_IP" dev "$HOST_IF"
  ip netns exec "$NODE_NS" sysctl -q -w net.ipv4.ip_forward=1
}

# Paths on the host that containerd/kubelet/CNI may create outside $RUN; what up finds absent,
# down removes (and nothing else).
HOST_PATHS=(/var/lib/cni /var/lib/kubelet /var/log/pods /var/log/containers /run/containerd /etc/cni /opt/cni)
snapshot_host() {
  local p
  for p in "${HOST_PATHS[@]}"; do [[ -e "$p" ]] || echo "$p"; done >"$RUN/absent-before-up"
  ls /run/netns >"$RUN/netns-before-up" 2>/dev/null || true
}

# ---- control plane ---------------------------------------------------------------------------
spawn() { # name command...   (root namespaces; pid in $RUN/<name>.pid, log in $LOGS/<name>.log)
  local name="$1"; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

wait_for() { # what seconds command...
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
  say "$what ready"
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

start_apiserver() {
  spawn kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$HOST_IP" --advertise-address "$HOST_IP" --secure-port "$API_PORT" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --profiling=false --v=1
  wait_for kube-apiserver 60 kubectl get --raw /readyz \
    || die "kube-apiserver did not become ready; see $LOGS/kube-apiserver.log"
}

start_control_plane() {
  for p in $API_PORT $ETCD_PORT $ETCD_PEER_PORT 10257 10259; do
    port_free "$p" || die "port $p is in use ($(ss -Hltnp "sport = :$p" | head -1)); stop what holds it"
  done
  spawn etcd "$BIN/etcd" --name oxk --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "oxk=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health" \
    || die "etcd did not become healthy; see $LOGS/etcd.log"
  start_apiserver
  spawn kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$RUN/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$RUN/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$RUN/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --allocate-node-cidrs=false --controllers '*,-nodeipam,-cloud-node-lifecycle' --v=1
  spawn kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$RUN/scheduler.kubeconfig" \
    --authentication-kubeconfig "$RUN/scheduler.kubeconfig" \
    --authorization-kubeconfig "$RUN/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --v=1
}

# ---- the node: containerd + kubelet + kube-proxy ---------------------------------------------
write_node_config() {
  mkdir -p "$RUN/containerd" "$RUN/cni/net.d" "$RUN/kubelet" "$RUN/fake-sysctl"
  cat >"$RUN/containerd/config.toml" <<EOF
version = 2
root = "$RUN/containerd/root"
state = "$RUN/containerd/state"
[grpc]
  address = "$RUN/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj (ENVIRONMENT.md).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RUN/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN/runc"
EOF
  cat >"$RUN/cni/net.d/10-oxidize.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "oxidize-local",
  "plugins": [
    {"type": "bridge", "bridge": "oxk-cni0", "isGateway": true, "ipMasq": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$RUN/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
  cat >"$RUN/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The machine has cgroup v1 (hybrid); kubelet 1.35+ refuses it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$RUN/containerd.sock
authentication:
  anonymous: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
  webhook: {enabled: false}
# Only the apiserver (client certificate from our CA) reaches the kubelet, inside the node namespace.
authorization: {mode: AlwaysAllow}
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
address: $NODE_IP
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
podCIDR: $POD_CIDR
resolvConf: /etc/resolv.conf
podLogsDir: $RUN/pod-logs
failSwapOn: false
protectKernelDefaults: false
makeIPTablesUtilChains: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
# OXIDIZE_CLUSTER_CPU_POLICY=static: Guaranteed pods with whole CPUs get exclusive cores, the
# CPUs in OXIDIZE_CLUSTER_RESERVED_CPUS (default 0) stay for the system and shared pods.
cpuManagerPolicy: ${OXIDIZE_CLUSTER_CPU_POLICY:-none}
$([[ "${OXIDIZE_CLUSTER_CPU_POLICY:-none}" == static ]] && echo "reservedSystemCPUs: \"${OXIDIZE_CLUSTER_RESERVED_CPUS:-0}\"")
cpuManagerReconcilePeriod: 5s
EOF
  cat >"$RUN/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $RUN/kube-proxy.kubeconfig}
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# conntrack sizes are global: leave them to the host.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  # The kubelet writes these global sysctls at start; inside the node's mount namespace they
  # are plain files holding the values it wants, so it has nothing to write to the host.
  local s
  mkdir -p "$RUN/fake-sysctl/kernel/keys" "$RUN/fake-sysctl/vm"
  for s in kernel/panic:10 kernel/panic_on_oops:1 vm/overcommit_memory:1 vm/panic_on_oom:0 \
    kernel/keys/root_maxkeys:1000000 kernel/keys/root_maxbytes:25000000; do
    echo "${s#*:}" >"$RUN/fake-sysctl/${s%%:*}"
  done
  cat >"$RUN/node.sh" <<EOF
#!/usr/bin/env bash
# Runs inside the node's network namespace and a private mount namespace (cluster.sh up).
set -euo pipefail
for f in kernel/panic kernel/panic_on_oops vm/overcommit_memory vm/panic_on_oom \\
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
  mount --bind "$RUN/fake-sysctl/\$f" "/proc/sys/\$f"
done
# sysfs as the node's network namespace sees it (its interfaces), with the host's cgroups.
mkdir -p "$RUN/hold-cgroup"
mount --rbind /sys/fs/cgroup "$RUN/hold-cgroup"
mount -t sysfs sysfs /sys
mount --rbind "$RUN/hold-cgroup" /sys/fs/cgroup
umount -l "$RUN/hold-cgroup"
# Host paths the kubelet and CNI write to outside their configured folders: kept in \$RUN.
mkdir -p "$RUN/host/var-log" "$RUN/host/var-lib-cni"
mount --bind "$RUN/host/var-log" /var/log
[[ -d /var/lib/cni ]] && mount --bind "$RUN/host/var-lib-cni" /var/lib/cni
containerd --config "$RUN/containerd/config.toml" >"$LOGS/containerd.log" 2>&1 &
echo \$! >"$RUN/containerd.pid"
for _ in \$(seq 100); do [[ -S "$RUN/containerd.sock" ]] && break; sleep 0.1; done
for a in "\$@"; do ctr -a "$RUN/containerd.sock" -n k8s.io images import --no-unpack "\$a" >>"$LOGS/images.log" 2>&1; done
"$BIN/kubelet" --config "$RUN/kubelet/config.yaml" --kubeconfig "$RUN/kubelet.kubeconfig" \\
  --root-dir "$RUN/kubelet/root" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \\
  --cert-dir "$RUN/kubelet/pki" --v=1 >"$LOGS/kubelet.log" 2>&1 &
echo \$! >"$RUN/kubelet.pid"
"$BIN/kube-proxy" --config "$RUN/kube-proxy.yaml" --v=1 >"$LOGS/kube-proxy.log" 2>&1 &
echo \$! >"$RUN/kube-proxy.pid"
# The holder: keeps the mount namespace while the node runs; down kills it last.
exec sleep infinity
EOF
  chmod +x "$RUN/node.sh"
}

node_ready() {
  [[ "$(kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

load_images() {
  local a
  for a in "$@"; do
    [[ -f "$a" ]] || die "no image archive at $a (run 'make images')"
    nsenter_node ctr -a "$RUN/containerd.sock" -n k8s.io images import "$a" >>"$LOGS/images.log" 2>&1 \
      || die "importing $a failed; see $LOGS/images.log"
    say "loaded $(basename "$a")"
  done
}

nsenter_node() { nsenter --target "$(cat "$RUN/node-holder.pid")" --mount --net -- "$@"; }

cmd_up() {
  need_root
  [[ -x "$BIN/kube-apiserver" ]] || die "the cluster is not built: run '$0 build' (or make cluster-build)"
  if [[ -d "$RUN" ]]; then
    if pid_alive "$RUN/kube-apiserver.pid" || ip netns list | grep -qw "$NODE_NS"; then
      die "a cluster is already up (state in $RUN); run '$0 down' first"
    fi
    say "removing the state of an earlier cluster that was not shut down"
    cmd_down >/dev/null
  fi
  local pause="${OXIDIZE_PAUSE_ARCHIVE:-$ROOT/build/images/pause-3.10-oxidize.tar}"
  [[ -f "$pause" ]] || die "no pause image at $pause (run 'make images')"
  mkdir -p "$RUN" "$LOGS"
  snapshot_host
  say "certificates and kubeconfigs"
  make_pki
  say "node network namespace $NODE_NS ($NODE_IP) joined by veth $HOST_IF ($HOST_IP)"
  make_netns
  say "control plane (etcd, kube-apiserver on $HOST_IP:$API_PORT, controller-manager, scheduler)"
  start_control_plane
  write_node_config
  say "node: containerd, kubelet, kube-proxy in $NODE_NS and a private mount namespace"
  setsid nsenter --net="/run/netns/$NODE_NS" -- unshare --mount --propagation private -- \
    "$RUN/node.sh" "$pause" >"$LOGS/node.log" 2>&1 </dev/null &
  echo $! >"$RUN/node-holder.pid"
  wait_for "node $NODE_NAME" 120 node_ready || {
    tail -20 "$LOGS/kubelet.log" >&2
    die "the node did not become Ready in 120 s; see $LOGS/kubelet.log and $LOGS/containerd.log"
  }
  (($# == 0)) || load_images "$@"
  say "up: export KUBECONFIG=$KUBECONFIG"
}

# Processes started by up, stopped in reverse order; each pid file names exactly one of ours.
STOP_ORDER=(kube-proxy kubelet containerd node-holder kube-scheduler kube-controller-manager kube-apiserver etcd)

stop_pid() {
  local f="$RUN/$1.pid"
  [[ -f "$f" ]] || return 0
  local pid; pid="$(cat "$f")"
  if running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
  [[ -n "${OXIDIZE_CLUSTER_DEBUG:-}" ]] && say "stopped $1" || true
}

cmd_down() {
  need_root
  [[ -d "$RUN" ]] || { say "nothing to stop"; return 0; }
  # The kubelet first (it would restart containers), then every process in the pods'
  # cgroups, then the runtime, its shims and the namespace holder.
  stop_pid kube-proxy
  stop_pid kubelet
  local p
  for _ in 1 2 3; do
    for p in $(cat /sys/fs/cgroup/pids/kubepods/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/cgroup.procs \
      /sys/fs/cgroup/pids/kubepods/*/*/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/*/*/cgroup.procs 2>/dev/null || true); do
      kill -KILL "$p" 2>/dev/null || true
    done
    sleep 0.2
  done
  for p in "${STOP_ORDER[@]}"; do stop_pid "$p"; done
  # containerd-shim processes are children of ours: find them by their socket under $RUN.
  for p in $(pgrep -f "containerd-shim.*-address $RUN/containerd.sock" || true); do kill -KILL "$p" 2>/dev/null || true; done
  # Mounts made in the root mount namespace under $RUN (none expected: the node has its own).
  awk -v r="$RUN" '$5 ~ "^"r {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" || true; done
  # Cgroups the kubelet and runc made (cgroupfs driver): deepest first.
  local ctrl
  for ctrl in /sys/fs/cgroup/*/; do
    for top in kubepods kubepods.slice; do
      [[ -d "$ctrl$top" ]] || continue
      find "$ctrl$top" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
  done
  ip route del "$POD_CIDR" 2>/dev/null || true
  ip link del "$HOST_IF" 2>/dev/null || true
  ip netns pids "$NODE_NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip netns del "$NODE_NS" 2>/dev/null || true
  # Pod network namespace files containerd left in /run/netns (their mounts died with the
  # node's mount namespace), and host paths up found absent.
  if [[ -f "$RUN/netns-before-up" ]]; then
    for p in $(ls /run/netns 2>/dev/null); do
      if [[ "$p" == cni-* ]] && ! grep -qx "$p" "$RUN/netns-before-up"; then
        umount "/run/netns/$p" 2>/dev/null || true
        rm -f "/run/netns/$p"
      fi
    done
  fi
  if [[ -f "$RUN/absent-before-up" ]]; then
    while read -r p; do
      if [[ -n "$p" && -e "$p" ]]; then rm -rf "$p"; fi
    done <"$RUN/absent-before-up"
  fi
  rm -rf "$RUN"
  say "down: processes stopped, namespace, veth, route, cgroups and state removed"
}

cmd_status() {
  [[ -d "$RUN" ]] || { echo "no cluster (state dir $RUN absent)"; return 1; }
  local p
  for p in "${STOP_ORDER[@]}"; do
    if pid_alive "$RUN/$p.pid"; then echo "$p: running (pid $(cat "$RUN/$p.pid"))"; else echo "$p: stopped"; fi
  done
  echo "KUBECONFIG=$KUBECONFIG"
  kubectl get nodes -o wide 2>/dev/null || true
}

case "${1:-}" in
  build) shift; exec bash "$ROOT/scripts/cluster/build.sh" "$@" ;;
  up) shift; cmd_up "$@" ;;
  load) shift; need_root; pid_alive "$RUN/node-holder.pid" || die "no cluster is up"; load_images "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  restart-apiserver)
    # For tests of clients that must survive an apiserver restart (the operator's watches).
    need_root; pid_alive "$RUN/kube-apiserver.pid" || die "no cluster is up"
    mkdir -p "$LOGS"; stop_pid kube-apiserver; say "kube-apiserver stopped"; start_apiserver ;;
  env) echo "export KUBECONFIG=$KUBECONFIG PATH=$BIN:\$PATH" ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
