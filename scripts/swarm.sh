#!/usr/bin/env bash
# A real three-node Docker Swarm on this machine, for the Swarm tests and the demo
# (the recipe of ../shared/reference/swarm.md, made idempotent):
#   three dockerd, each in its own network namespace (sdsw1, sdsw2, sdsw3) and UTS namespace (its
#   hostname is its name), with its own address on a private bridge made here (sdswbr0,
#   10.77.0.0/24: sdswN is 10.77.0.1N). sdsw1 is the manager, the others are workers. There is no
#   registry: the fixture images are copied from the main engine onto every node.
#
#   scripts/swarm.sh up       start what is missing, form the swarm, load the images (idempotent)
#   scripts/swarm.sh down     stop the engines, remove the namespaces, the bridge and the state
#   scripts/swarm.sh host N   print node N's DOCKER_HOST (unix socket)
#   scripts/swarm.sh cut N | mend N    take node N's link down / up (a worker cut off)
#
# State under $STACKDECK_SWARM_DIR (default /tmp/sdswarm). Needs root (namespaces, links).
set -euo pipefail
dir="${STACKDECK_SWARM_DIR:-/tmp/sdswarm}"
images=(fx-trading-bot:1 fx-trading-bot:2 fx-trading-bot:2-broken fx-api-server:1 fx-api-server:2 fx-api-server:2-broken bb:1)

sock() { echo "$dir/n$1/docker.sock"; }
d() { local n=$1; shift; DOCKER_HOST="unix://$(sock "$n")" docker "$@"; }
answers() { d "$1" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

net_up() {
  if ! ip link show sdswbr0 >/dev/null 2>&1; then
    ip link add sdswbr0 type bridge
    ip addr add 10.77.0.1/24 dev sdswbr0
  fi
  ip link set sdswbr0 up
  for i in 1 2 3; do
    [ -e "/var/run/netns/sdsw$i" ] || ip netns add "sdsw$i"
    if ! ip link show "sdswv$i" >/dev/null 2>&1; then
      ip link add "sdswv$i" type veth peer name eth0 netns "sdsw$i"
      ip netns exec "sdsw$i" ip addr add "10.77.0.1$i/24" dev eth0
    fi
    ip link set "sdswv$i" master sdswbr0
    ip link set "sdswv$i" up
    ip netns exec "sdsw$i" ip link set eth0 up
    ip netns exec "sdsw$i" ip link set lo up
    # The stack's published and host ports (59401...) are inside the ephemeral range: keep the
    # node's client sockets off them, as scripts/engine.sh does on the host.
    ip netns exec "sdsw$i" sh -c 'echo 53000-60000 > /proc/sys/net/ipv4/ip_local_reserved_ports'
  done
}

# A dockerd that was killed (kill -9, the end of a session) leaves its containerd's pid file in
# its exec root. A new dockerd takes the file's word that containerd still runs, and if the pid
# now belongs to some other process it waits for a socket that never comes ("timeout waiting for
# containerd to start"). So: end a containerd of this exec root that is really still there, and
# remove the file.
stale_containerd() {
  local pidfile="$1/containerd/containerd.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$1/containerd"; then
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

engine_up() {
  local i=$1 n="$dir/n$1"
  answers "$i" && return 0
  mkdir -p "$n"
  # A dockerd of an earlier run that is still there is either starting (it answers soon) or
  # shutting down (it goes away): wait for one or the other.
  if [ -f "$n/dockerd.pid" ] && kill -0 "$(cat "$n/dockerd.pid")" 2>/dev/null; then
    for _ in $(seq 1 150); do
      answers "$i" && return 0
      kill -0 "$(cat "$n/dockerd.pid" 2>/dev/null || echo 0)" 2>/dev/null || break
      sleep 0.2
    done
  fi
  if [ -f "$n/dockerd.pid" ] && kill -0 "$(cat "$n/dockerd.pid")" 2>/dev/null; then
    :   # still starting: wait below
  else
    rm -f "$n/dockerd.pid" "$(sock "$i")"
    stale_containerd "$n/exec"
    # nsenter, not `ip netns exec` (which remounts /sys and hides the cgroups from dockerd).
    nsenter --net="/var/run/netns/sdsw$i" unshare --uts sh -c \
      "hostname sdsw$i; exec setsid dockerd --host unix://$(sock "$i") --data-root $n/root --exec-root $n/exec \
       --pidfile $n/dockerd.pid --bridge=none --iptables=false --ip6tables=false" \
      >"$n/log" 2>&1 </dev/null 9>&- &
  fi
  for _ in $(seq 1 150); do answers "$i" && return 0; sleep 0.2; done
  echo "swarm: node sdsw$i did not come up; last lines of $n/log:" >&2
  tail -n 20 "$n/log" >&2
  return 1
}

state() { d "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }

swarm_up() {
  if [ "$(state 1)" != active ]; then
    d 1 swarm init --advertise-addr 10.77.0.11 >/dev/null
  fi
  local tok
  tok=$(d 1 swarm join-token -q worker)
  for i in 2 3; do
    if [ "$(state "$i")" != active ]; then
      d "$i" swarm join --token "$tok" 10.77.0.11:2377 >/dev/null
    fi
  done
  for _ in $(seq 1 100); do
    [ "$(d 1 node ls --format '{{.Status}}' | grep -c Ready)" = 3 ] && return 0
    sleep 0.2
  done
  echo "swarm: the nodes are not all Ready:" >&2
  d 1 node ls >&2
  return 1
}

images_up() {
  local missing=() i img
  for img in "${images[@]}"; do
    for i in 1 2 3; do
      if ! d "$i" image inspect "$img" >/dev/null 2>&1; then missing+=("$img"); break; fi
    done
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local tar="$dir/images.tar"
  docker save -o "$tar" "${missing[@]}"
  for i in 1 2 3; do d "$i" load -q -i "$tar" >/dev/null; done
  rm -f "$tar"
}

down() {
  for i in 1 2 3; do
    local n="$dir/n$i"
    if [ -f "$n/dockerd.pid" ]; then
      local pid
      pid=$(cat "$n/dockerd.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    [ -e "/var/run/netns/sdsw$i" ] && ip netns del "sdsw$i"
    ip link del "sdswv$i" 2>/dev/null || true
  done
  ip link del sdswbr0 2>/dev/null || true
  # Each dockerd leaves mounts under its exec root: unmount them (deepest first) before removing.
  if [ -d "$dir" ]; then
    # Their containerd (children, under the same exec root) end a moment later.
    for _ in $(seq 1 50); do pgrep -f "$dir/n" >/dev/null || break; sleep 0.2; done
    grep -F " $dir/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    for _ in $(seq 1 20); do rm -rf "$dir" 2>/dev/null && break; sleep 0.5; done
    [ ! -e "$dir" ] || { echo "swarm: could not remove $dir" >&2; exit 1; }
  fi
}

case "${1:-up}" in
  up)
    mkdir -p "$dir"
    exec 9>"$dir.lock"
    flock 9
    net_up
    for i in 1 2 3; do engine_up "$i"; done
    swarm_up
    images_up
    ;;
  down) down ;;
  host) echo "unix://$(sock "${2:?node number}")" ;;
  cut) ip link set "sdswv${2:?node number}" down ;;
  mend) ip link set "sdswv${2:?node number}" up ;;
  *) echo "usage: $0 up|down|host N|cut N|mend N" >&2; exit 2 ;;
esac
