"""Real Jupyter server processes for tests (JupyterLab for the browser, jupyter server for
the extension): started on a free loopback port with a token in the environment (never on
the command line), waited for, and stopped."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    token: str
    root: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def open(self, path: str) -> str:
        """A Lab URL for a file under root."""
        return f"{self.url}/lab/tree/{path}?token={self.token}"

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on."""
        url = urlsplit(self.url)
        assert url.hostname and url.port, self.url
        return url.hostname, url.port


@contextmanager
def jupyter(
    module: str, root: Path, log: Path, *, args: Sequence[str] = (),
    env: dict[str, str] | None = None, port: int | None = None, token: str | None = None,
) -> Iterator[Server]:  # fmt: skip
    """`python -m <module>` (jupyterlab, jupyter_server) serving `root` until the block ends."""
    port = port or free_port()
    token = token or secrets.token_hex(16)
    full_env = dict(os.environ if env is None else env, JUPYTER_TOKEN=token)
    cmd = [sys.executable, "-m", module, "--no-browser", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}", *args]  # fmt: skip
    if os.getuid() == 0:
        cmd.append("--allow-root")
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
            break
        except OSError as exc:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"{module} did not start:\n{log.read_text()}") from exc
            time.sleep(0.3)
    try:
        yield Server(url, token, root, log, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
