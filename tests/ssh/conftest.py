"""A real SSH server in the test process: asyncssh on 127.0.0.1, port 0, keys made per run.

For what needs SSH but not Slurm (running, batching, stdin, timeouts, drops, host keys):
a test here starts in milliseconds where the mini-Rivanna's OpenSSH needs the cluster up.
Each command runs as this user in a real `/bin/sh`, so quoting, stdin and exit statuses
are the shell's own. The server keeps what a test needs to look at: the command lines it
was asked to run, and its open connections (to drop them, as a network would).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from rv_jupyter.remote import SshTarget


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.ssh)


@dataclass
class LoopbackServer:
    """What a test sees of the server."""

    port: int
    host_key: asyncssh.SSHKey
    client_key_path: Path
    known_hosts: Path
    commands: list[str] = field(default_factory=list)  # exec requests, in order
    connections: list[Any] = field(default_factory=list)  # server-side, open ones

    def target(self, **changes: Any) -> SshTarget:
        """An SshTarget for this server that trusts its key and ignores ~/.ssh/config."""
        fields: dict[str, Any] = dict(
            host="127.0.0.1", port=self.port, user=os.environ.get("USER") or "root",
            identity_files=(str(self.client_key_path),), known_hosts=str(self.known_hosts),
            ssh_config=(), connect_timeout=5.0,
        )  # fmt: skip
        fields.update(changes)
        return SshTarget(**fields)

    def drop_all(self) -> None:
        """End every connection at once, with no goodbye: a network drop."""
        for conn in list(self.connections):
            conn.abort()


class _Server(asyncssh.SSHServer):
    def __init__(self, state: LoopbackServer, authorized: asyncssh.SSHKey) -> None:
        self.state, self.authorized = state, authorized
        self.conn: Any = None

    def connection_made(self, conn: Any) -> None:
        self.conn = conn
        self.state.connections.append(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn in self.state.connections:
            self.state.connections.remove(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return key.public_data == self.authorized.public_data


async def _run_in_shell(process: asyncssh.SSHServerProcess[bytes]) -> None:
    """The exec request, run by /bin/sh with the channel as its stdio."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", process.command or "",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert proc.stdin and proc.stdout and proc.stderr

    async def feed() -> None:
        assert proc.stdin
        with contextlib.suppress(OSError, asyncssh.Error):
            while data := await process.stdin.read(1 << 16):
                proc.stdin.write(data)
                await proc.stdin.drain()
            proc.stdin.close()

    async def copy(src: asyncio.StreamReader, dst: Any) -> None:
        while data := await src.read(1 << 16):
            dst.write(data)

    feeding = asyncio.ensure_future(feed())
    try:
        # Every byte the shell wrote is on the channel before its exit status.
        await asyncio.gather(copy(proc.stdout, process.stdout), copy(proc.stderr, process.stderr))
        process.exit(await proc.wait())
    except (asyncio.CancelledError, OSError, asyncssh.Error):
        # The channel went (a drop): the command goes with it, as sshd's session would.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, 9)
        raise
    finally:
        feeding.cancel()


@pytest.fixture
async def a_server(tmp_path: Path) -> AsyncIterator[LoopbackServer]:
    """An SSH server on 127.0.0.1:<free port>, up for one test."""
    async for state in loopback_server(tmp_path):
        yield state


async def loopback_server(tmp_path: Path) -> AsyncIterator[LoopbackServer]:
    """The server of `a_server`, for use outside pytest too."""
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / "id_ed25519"
    client_key.write_private_key(str(key_path))
    key_path.chmod(0o600)
    known = tmp_path / "known_hosts"
    state = LoopbackServer(0, host_key, key_path, known)
    commands = state.commands

    async def handle(process: asyncssh.SSHServerProcess[bytes]) -> None:
        commands.append(process.command or "")
        await _run_in_shell(process)

    acceptor = await asyncssh.listen(
        "127.0.0.1", 0, server_host_keys=[host_key], encoding=None,
        server_factory=lambda: _Server(state, client_key), process_factory=handle,
    )  # fmt: skip
    state.port = acceptor.sockets[0].getsockname()[1]
    public = host_key.export_public_key("openssh").decode().strip()
    known.write_text(f"[127.0.0.1]:{state.port} {public}\n")
    try:
        yield state
    finally:
        state.drop_all()
        acceptor.close()
        await acceptor.wait_closed()
