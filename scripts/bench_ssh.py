"""Section 7 of the bench: the panel over ssh next to the panel on the local socket.

A real sshd (Debian's) on 127.0.0.1, with a host key and a client key made here, in front of the
bench's private engine. Figures read from outside the process:

  ssh connections   ESTABLISHED TCP connections to the sshd port (ss), and ssh processes that
                    are children of the panel
  ssh bytes/s       bytes_sent + bytes_received of those connections (ss -i, the kernel's TCP
                    counters) over the idle window: everything, encryption and keepalives too
  engine bytes/s    for the local panel: bytes both ways through a counting unix-socket proxy
                    between the panel and the engine (the same API traffic, unencrypted)
  start-up          tmux start to the first screen listing every service with its health
  key -> frame      as in section 2
"""

import os
import re
import socket
import statistics
import subprocess
import threading
import time

SSH_PORT = 31290


class Proxy:
    """A unix socket that forwards to the engine's and counts the bytes both ways."""

    def __init__(self, path, target):
        self.path, self.target, self.bytes = path, target, 0
        self.lock = threading.Lock()
        if os.path.exists(path):
            os.remove(path)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(64)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            u.connect(self.target)
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    def pump(self, a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                with self.lock:
                    self.bytes += len(d)
                b.sendall(d)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def count(self):
        with self.lock:
            return self.bytes

    def close(self):
        self.srv.close()


class Sshd:
    def __init__(self, d):
        self.dir = d
        os.makedirs(d, exist_ok=True)
        os.makedirs("/run/sshd", exist_ok=True)
        for k in ("hostkey", "id"):
            if not os.path.exists(f"{d}/{k}"):
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/{k}"], check=True)
        with open(f"{d}/authorized_keys", "w") as f:
            f.write(open(f"{d}/id.pub").read())
        self.p = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", "/dev/null", "-o", f"Port={SSH_PORT}", "-o", "ListenAddress=127.0.0.1",
             "-o", f"HostKey={d}/hostkey", "-o", "PermitRootLogin=prohibit-password", "-o", "StrictModes=no",
             "-o", f"PidFile={d}/pid", "-o", f"AuthorizedKeysFile={d}/authorized_keys"],
            stdout=subprocess.DEVNULL, stderr=open(f"{d}/sshd.log", "w"))
        for _ in range(150):
            r = subprocess.run(["ssh-keyscan", "-p", str(SSH_PORT), "127.0.0.1"], capture_output=True, text=True)
            if r.returncode == 0 and r.stdout:
                open(f"{d}/known_hosts", "w").write(r.stdout)
                break
            time.sleep(0.2)
        with open(f"{d}/ssh_config", "w") as f:
            f.write(f"Host *\n  IdentityFile {d}/id\n  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n"
                    "  StrictHostKeyChecking yes\n")

    def close(self):
        self.p.terminate()
        self.p.wait()


def connections():
    """The established connections to sshd's port: (count, bytes sent + received)."""
    out = subprocess.run(["ss", "-Htin", "state", "established", f"( dport = :{SSH_PORT} )"],
                         capture_output=True, text=True).stdout
    n = sum(1 for line in out.splitlines() if f":{SSH_PORT}" in line)
    total = sum(int(x) for x in re.findall(r"bytes_(?:sent|received):(\d+)", out))
    return n, total


def ssh_children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid), "-x", "ssh"], capture_output=True, text=True).stdout
    return len(out.split())


def run(b, n=10):
    """Start-up, idle traffic and key -> frame, over ssh and on the local socket (via a proxy)."""
    d = f"{b.BENCH_DIR}/ssh"
    sshd = Sshd(d)
    engine_sock = b.SOCK.removeprefix("unix://")
    proxy = Proxy(f"{b.BENCH_DIR}/proxy.sock", engine_sock)
    cfg = f"{d}/stackdeck.toml"
    with open(cfg, "w") as f:
        f.write(f"[engine]\npull = false\nssh_config = \"{d}/ssh_config\"\n")
    hosts = {"ssh": f"ssh://root@127.0.0.1:{SSH_PORT}{engine_sock}", "local": f"unix://{b.BENCH_DIR}/proxy.sock"}
    res = {k: [] for k in hosts}
    try:
        b.run_idle_containers(n)
        for r in range(b.ROUNDS):
            for kind in (("ssh", "local") if r % 2 == 0 else ("local", "ssh")):
                p = b.Panel("stackdeck", 160, 60, extra=("--config", cfg, "--host", hosts[kind]))
                try:
                    p.wait(b.listed(n), limit=60, step=0.001)
                    m = {"startup_ms": (time.monotonic() - p.t0) * 1000}
                    time.sleep(b.WARMUP)
                    c0, t0, x0 = connections(), time.monotonic(), proxy.count()
                    time.sleep(b.IDLE)
                    c1, secs = connections(), time.monotonic() - t0
                    if kind == "ssh":
                        m["conns"] = c1[0]
                        m["ssh_procs"] = ssh_children(p.pid)
                        m["bps"] = (c1[1] - c0[1]) / secs
                    else:
                        m["bps"] = (proxy.count() - x0) / secs
                    lat = []
                    for i in range(3 if b.QUICK else 10):
                        lat.append(p.key_to_frame("Down" if i % 2 == 0 else "Up"))
                        time.sleep(0.3)
                    m["key_ms"] = statistics.median(lat)
                    res[kind].append(m)
                finally:
                    p.close()
    finally:
        b.clean_containers()
        proxy.close()
        sshd.close()
    return res


def report(res):
    med = lambda k, rows: statistics.median(r[k] for r in rows) if rows else float("nan")  # noqa: E731
    s, loc = res["ssh"], res["local"]
    print("\n### 7. Over ssh (one sshd on 127.0.0.1) next to the local socket, 10 idle services\n")
    print("| | over ssh | local socket |")
    print("|---|---|---|")
    print(f"| start-up to the full first frame | {med('startup_ms', s):.0f} ms | {med('startup_ms', loc):.0f} ms |")
    print(f"| key press -> frame | {med('key_ms', s):.1f} ms | {med('key_ms', loc):.1f} ms |")
    print(f"| idle traffic | {med('bps', s):.0f} B/s through the ssh connection | "
          f"{med('bps', loc):.0f} B/s engine API |")
    print(f"| ssh connections / ssh processes held | {max(r['conns'] for r in s)} / "
          f"{max(r['ssh_procs'] for r in s)} | - |")
