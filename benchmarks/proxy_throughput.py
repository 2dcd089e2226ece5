"""Download speed through /rv/proxy/<job>/<port>/ against straight from the node's port,
measured side by side on the mini-Rivanna.

A web app (tests/cluster/web_app.py) runs inside a job; a real `jupyter server` with the
extension proxies it over the SSH connection. Each round downloads MB megabytes both
ways, alternating. The last line is `proxy_ratio=<proxy/direct> proxy_mbps=<median>
direct_mbps=<median>` (targets: proxy >= 100 MB/s, ratio >= 0.5).
Needs RV_CONFIG pointing at the mini-Rivanna and must run on its host (the direct path
reaches the node's address, as the login node would).
"""

from __future__ import annotations

import http.client
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rv_jupyter
from tests.jupyter_servers import jupyter

MB = 200
ROUNDS = int(os.environ.get("ROUNDS", "5"))
APP = Path(__file__).resolve().parents[1] / "tests" / "cluster" / "web_app.py"


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


def main() -> int:
    config = os.environ.get("RV_CONFIG")
    if not config:
        print("RV_CONFIG must point at the mini-Rivanna's rv config", file=sys.stderr)
        return 2
    cluster = rv_jupyter.connect(config)
    remote_app = f"/home/{cluster.config.connection.user}/rv-bench-web_app.py"
    cluster.run(f"cat > {remote_app}", stdin=APP.read_text())
    port = random.randint(20000, 40000)
    job = (
        cluster.run(
            f"sbatch --parsable -p standard -t 15 -J bench-web "
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
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            env = dict(os.environ, RV_CONFIG=config)
            with jupyter("jupyter_server", root, root / "server.log", env=env) as server:
                auth = {"Authorization": f"token {server.token}"}
                sport = int(server.url.rsplit(":", 1)[1])
                path = f"/bytes?mb={MB}"
                download("127.0.0.1", sport, f"/rv/proxy/{job}/{port}{path}", auth)  # warm
                proxied, direct = [], []
                for _ in range(ROUNDS):
                    proxied.append(download("127.0.0.1", sport, f"/rv/proxy/{job}/{port}{path}",
                                            auth))  # fmt: skip
                    direct.append(download(node, port, path, {}))
    finally:
        cluster.cancel([job])
    p, d = statistics.median(proxied), statistics.median(direct)
    print(f"through /rv/proxy/ (SSH): median {p:7.1f} MB/s over {ROUNDS} x {MB} MB")
    print(f"straight from {node}:{port}: median {d:7.1f} MB/s over {ROUNDS} x {MB} MB")
    print(f"proxy_ratio={p / d:.2f} proxy_mbps={p:.1f} direct_mbps={d:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
