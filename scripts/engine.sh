#!/usr/bin/env bash
# Make sure a Docker engine answers; start one if none does.
#   - Installs docker.io / busybox-static / tmux / mmdebstrap / docker-compose / sqlite3 / openssh /
#     iproute2 / prometheus from
#     Debian when missing (prometheus: the observability tests run their own on 127.0.0.1).
#   - Uses $DOCKER_HOST when set, else the default socket.
#   - Starts dockerd with --bridge=none --iptables=false (no bridge networks: every fixture uses host
#     networking on 127.0.0.1) and logs to $STACKDECK_DOCKERD_LOG.
# Safe to run repeatedly. Prints nothing on success except what it had to do.
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v busybox >/dev/null || need+=(busybox-static)
command -v tmux >/dev/null || need+=(tmux)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v curl >/dev/null || need+=(curl)
command -v pgrep >/dev/null || need+=(procps)
command -v docker-compose >/dev/null || need+=(docker-compose)
# The audit tests edit the history as somebody with the sqlite3 CLI would.
command -v sqlite3 >/dev/null || need+=(sqlite3)
# The remote-engine tests run a real sshd on 127.0.0.1 and count connections with ss.
command -v ssh >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ss >/dev/null || need+=(iproute2)
# The TLS-engine tests make their CA and certificates with openssl.
command -v openssl >/dev/null || need+=(openssl)
# The observability tests start their own Prometheus (Debian's package) on 127.0.0.1.
command -v prometheus >/dev/null || need+=(prometheus)
# The shared-state tests start their own PostgreSQL cluster (Debian's server binaries).
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq
  # Packages must not start their own daemons (prometheus would listen on every address):
  # a policy-rc.d that refuses every start, for the length of the install only.
  prc=/usr/sbin/policy-rc.d
  had_prc=0; [ -e "$prc" ] && had_prc=1
  [ "$had_prc" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > "$prc"; chmod +x "$prc"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ "$had_prc" = 1 ] || rm -f "$prc"
fi
# The stack and the tests listen on fixed ports in 53000-60000 (the compose file's own ports, and
# one port per test), which is inside Linux's ephemeral range (32768-60999). A client socket that
# the kernel happens to give such a port makes the next listener there fail to bind. Reserve the
# range so that the kernel never hands it out to client sockets (needs root; said otherwise).
reserved=53000-60000
rp=/proc/sys/net/ipv4/ip_local_reserved_ports
if [ -w "$rp" ]; then
  cur=$(cat "$rp")
  case ",$cur," in *",$reserved,"*) ;; *) echo "${cur:+$cur,}$reserved" >"$rp" ;; esac
elif ! grep -q "$reserved" "$rp" 2>/dev/null; then
  echo "note: ports $reserved are not reserved from the ephemeral range (not root); a test may rarely fail to bind" >&2
fi
if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then exit 0; fi
if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
  echo "DOCKER_HOST=$DOCKER_HOST does not answer and is not a local socket: not starting an engine" >&2
  exit 1
fi
sock="${DOCKER_HOST:-}"; sock="${sock#unix://}"; sock="${sock:-/var/run/docker.sock}"
log="${STACKDECK_DOCKERD_LOG:-/tmp/stackdeck-dockerd.log}"
# A dockerd that was killed (kill -9, a crash) leaves its containerd's pid file under the exec
# root. If that pid now belongs to another process, a new dockerd takes it for its containerd
# and waits for a socket that never comes. A real containerd of that exec root is kept (dockerd
# takes it over with the containers it runs); a stale file is removed.
cpid=/var/run/docker/containerd/containerd.pid
if [ -f "$cpid" ]; then
  p=$(cat "$cpid" 2>/dev/null || true)
  if [ -z "$p" ] || ! tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF /var/run/docker/containerd; then
    echo "removing a stale $cpid (pid ${p:-none} is not its containerd)" >&2
    rm -f "$cpid"
  fi
fi
echo "starting dockerd on $sock (log: $log)" >&2
mkdir -p "$(dirname "$sock")"
nohup dockerd --bridge=none --iptables=false --ip6tables=false -H "unix://$sock" >"$log" 2>&1 &
for _ in $(seq 1 150); do
  if DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1; then exit 0; fi
  sleep 0.2
done
echo "dockerd did not come up within 30 s; last lines of $log:" >&2
tail -n 30 "$log" >&2
exit 1
