"""Download speed and time-to-first-byte through /rv/proxy/<job>/<port>/, against what a
user would otherwise pick (an OpenSSH `ssh -L` forward through the same sshd to the same
app) and straight from the node's port, measured side by side on the mini-Rivanna.

A web app (tests/cluster/web_app.py) runs inside a job; a real `jupyter server` with the
extension proxies it over the SSH connection; `ssh -L` (the OpenSSH client with the
mini-Rivanna's ssh config, key and known_hosts) forwards a local port to the same app.
Each round downloads MB megabytes all three ways, alternating. Time-to-first-byte is the
median over TTFB_ROUNDS fresh connections (as a page's first request) of a small page.
The last line is `proxy_vs_sshL=<proxy/ssh -L> proxy_mbps=<median> sshl_mbps=<median>
direct_mbps=<median> proxy_ttfb_ms=<median> sshl_ttfb_ms=<median> direct_ttfb_ms=<median>
ttfb_ratio=<proxy/direct>` (targets: proxy_vs_sshL >= 1.0, ttfb_ratio <= 2).
Needs RV_CONFIG pointing at the mini-Rivanna and must run on its host (the direct path
reaches the node's address, as the login node would).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rv_jupyter
from rv_jupyter.errors import RvError
from tests.jupyter_servers import free_port, jupyter

MB = int(os.environ.get("MB", "200"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
TTFB_ROUNDS = int(os.environ.get("TTFB_ROUNDS", "50"))
APP = Path(__file__).resolve().parents[1] / "tests" / "cluster" / "web_app.py"
SSH_CONFIG = Path(os.environ.get("RV_MINI", "/var/lib/rv-mini")) / "ssh" / "config"


def download(host: str, port: int, path: str, headers: dict[str, str]) -> float:
    """MB/s of one GET of `path`, body read and discarded in 1 MiB reads."""
    conn = http.client.HTTPConnection(host, port, timeout=120)
    t0 = time.perf_counter()
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    assert resp.status == 200, resp.status
    n = 0
    while chunk := resp.read(1 << 20):
        n += len(chunk)
    conn.close()
    assert n == MB << 20, n
    return n / (1 << 20) / (time.perf_counter() - t0)


def ttfb_ms(host: str, port: int, path: str, headers: dict[str, str]) -> float:
    """Milliseconds from connecting to the first byte of a small page's answer."""
    t0 = time.perf_counter()
    sock = socket.create_connection((host, port), timeout=30)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{head}\r\n".encode())
    first = sock.recv(1)
    took = (time.perf_counter() - t0) * 1000
    assert first == b"H", first
    sock.close()
    return took


@contextmanager
def ssh_forward(node: str, port: int) -> Iterator[int]:
    """`ssh -L 127.0.0.1:<local>:<node>:<port> mini-rivanna` during the block; the local port."""
    local = free_port()
    proc = subprocess.Popen(
        ["ssh", "-F", str(SSH_CONFIG), "-N", "-o", "ExitOnForwardFailure=yes",
         "-L", f"127.0.0.1:{local}:{node}:{port}", "mini-rivanna"],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", local), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "ssh -L exited"
                assert time.monotonic() < deadline, "ssh -L did not listen"
                time.sleep(0.2)
        yield local
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    config = os.environ.get("RV_CONFIG")
    if not config:
        print("RV_CONFIG must point at the mini-Rivanna's rv config", file=sys.stderr)
        return 2
    cluster = rv_jupyter.connect(config)
    user = cluster.config.connection.user
    remote_app = f"/home/{user}/rv-bench-web_app.py"
    cluster.run(f"cat > {remote_app}", stdin=APP.read_text())
    port = random.randint(20000, 40000)
    job = (
        cluster.run(
            f"sbatch --parsable -p standard -t 15 -J bench-web -o /home/{user}/bench-web.log "
            f"--wrap 'exec python3 {remote_app} {port}'"
        )
        .strip()
        .split(";")[0]
    )
    try:
        node = ""
        deadline = time.monotonic() + 60
        while not node:
            jobs = {j.job_id: j for j in cluster.jobs()}
            if job in jobs and jobs[job].state.value == "running":
                node = jobs[job].node_list or ""
            assert time.monotonic() < deadline, "the web app's job did not start"
            time.sleep(0.5)
        time.sleep(2)  # the app's python3 start
        with tempfile.TemporaryDirectory() as tmp, ssh_forward(node, port) as sshl:
            root = Path(tmp)
            env = dict(os.environ, RV_CONFIG=config)
            with jupyter("jupyter_server", root, root / "server.log", env=env) as server:
                auth = {"Authorization": f"token {server.token}"}
                sport = int(server.url.rsplit(":", 1)[1])
                base = f"/rv/proxy/{job}/{port}"
                path = f"/bytes?mb={MB}"
                download("127.0.0.1", sport, base + path, auth)  # warm: the forward opens
                download("127.0.0.1", sshl, path, {})
                proxied, tunnelled, direct = [], [], []
                for _ in range(ROUNDS):
                    proxied.append(download("127.0.0.1", sport, base + path, auth))
                    tunnelled.append(download("127.0.0.1", sshl, path, {}))
                    direct.append(download(node, port, path, {}))
                ttfb_p, ttfb_s, ttfb_d = [], [], []
                for _ in range(TTFB_ROUNDS):
                    ttfb_p.append(ttfb_ms("127.0.0.1", sport, f"{base}/hello", auth))
                    ttfb_s.append(ttfb_ms("127.0.0.1", sshl, "/hello", {}))
                    ttfb_d.append(ttfb_ms(node, port, "/hello", {}))
    finally:
        with contextlib.suppress(RvError):  # ended already (a shared cluster's cleanup)
            cluster.cancel([job])
    p, s, d = (statistics.median(x) for x in (proxied, tunnelled, direct))
    tp, ts, td = (statistics.median(x) for x in (ttfb_p, ttfb_s, ttfb_d))
    for name, runs in (("proxy", proxied), ("ssh -L", tunnelled), ("direct", direct)):
        print(f"{name:>7} MB/s by round: {' '.join(f'{x:.0f}' for x in runs)}")
    print(f"through /rv/proxy/ (SSH): median {p:7.1f} MB/s over {ROUNDS} x {MB} MB")
    print(f"through ssh -L (OpenSSH): median {s:7.1f} MB/s over {ROUNDS} x {MB} MB")
    print(f"straight from {node}:{port}: median {d:7.1f} MB/s over {ROUNDS} x {MB} MB")
    print(f"time to first byte of /hello: proxy {tp:.2f} ms, ssh -L {ts:.2f} ms, "
          f"direct {td:.2f} ms (median of {TTFB_ROUNDS}, a new connection each)")  # fmt: skip
    print(
        f"proxy_vs_sshL={p / s:.2f} proxy_mbps={p:.1f} sshl_mbps={s:.1f} direct_mbps={d:.1f} "
        f"proxy_ttfb_ms={tp:.2f} sshl_ttfb_ms={ts:.2f} direct_ttfb_ms={td:.2f} "
        f"ttfb_ratio={tp / td:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
