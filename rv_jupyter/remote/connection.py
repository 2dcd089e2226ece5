"""One asyncssh connection per cluster, shared by everything in the process.

With nodes.py (its SSH connections into compute nodes), the only module that awaits SSH.
asyncssh errors are translated here, once, into the `rv_jupyter.errors` tree; nothing
above sees an asyncssh exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import asyncssh

from rv_jupyter.errors import (
    AuthFailed,
    CommandFailed,
    CommandTimeout,
    ConfigError,
    ConnectionLost,
    HostKeyChanged,
    HostKeyUnknown,
    HostUnreachable,
    PortClosed,
    SshError,
)
from rv_jupyter.remote.batch import Completed, build_script, new_token, split_output
from rv_jupyter.remote.node_ports import NodePortListener
from rv_jupyter.remote.nodes import NodeLinks
from rv_jupyter.remote.target import SshTarget

# asyncssh's own choices, AES-GCM first: with the AES instructions of any recent laptop it
# moves ~1.7x the bytes per second of ChaCha20-Poly1305 (asyncssh's first choice), which
# is what proxied downloads feel. All of these are equally sound; the server picks.
_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
_DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_ed25519_sk", "id_ecdsa_sk", "id_rsa")
# What "the connection went away" looks like from asyncssh and the socket layer.
DROPPED = (
    asyncssh.ConnectionLost,
    asyncssh.DisconnectError,
    asyncssh.ChannelOpenError,
    BrokenPipeError,
    ConnectionResetError,
    EOFError,
)


class Connection:
    """The shared SSH connection to one target; opened on first use, reopened once if dropped."""

    _registry: ClassVar[dict[SshTarget, Connection]] = {}

    def __init__(self, target: SshTarget) -> None:
        self.target = target
        self._conn: asyncssh.SSHClientConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        # Exec channels opened: one per run() or batch(), so tests can count round trips.
        self.channels_opened = 0
        self.connects = 0
        self.nodes = NodeLinks(self)  # SSH into compute nodes, tunnelled through this

    @classmethod
    def for_target(cls, target: SshTarget) -> Connection:
        """The process-wide connection object for `target` (created on first call)."""
        conn = cls._registry.get(target)
        if conn is None:
            conn = cls._registry[target] = cls(target)
        return conn

    async def __aenter__(self) -> Connection:
        await self._ensure()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- commands -----------------------------------------------------------------

    async def run(
        self,
        command: str,
        *,
        stdin: str | bytes | None = None,
        timeout: float | None = 60,
        check: bool = True,
        retry: bool = True,
        binary: bool = False,
    ) -> Completed:
        """Run one command; `stdin` carries scripts and secrets (never the command line).

        With `binary`, stdout comes back undecoded in `stdout_bytes` (e.g. a tar stream).

        A dropped connection is reopened and the command retried once, unless
        `retry=False` (for commands that must not run twice, such as a submission).
        """
        try:
            done = await self._exec(command, stdin, timeout, binary)
        except _Dropped:
            if not retry:
                raise ConnectionLost(
                    f"The connection to {self.target.describe()} dropped while running "
                    f"`{_short(command)}`; it was not retried because it may have taken effect.",
                    hint="Check with %rv_ps before trying again.",
                ) from None
            await self._reset()
            try:
                done = await self._exec(command, stdin, timeout, binary)
            except _Dropped as exc:
                raise ConnectionLost(
                    f"The connection to {self.target.describe()} dropped twice.",
                    hint="Check your network or VPN, then try again.",
                ) from exc.__cause__
        if check and done.exit_status != 0:
            raise _failed(done)
        return done

    async def batch(
        self,
        commands: Sequence[str],
        *,
        timeout: float | None = 60,
        parallel: bool = False,
        retry: bool = True,
    ) -> list[Completed]:
        """Run `commands` in one round trip; each result has its own stdout, stderr, status.

        The batch is retried once on a dropped connection unless `retry=False` (for
        batches that change something, such as submissions).
        """
        if not commands:
            return []
        token = new_token()
        script = build_script(commands, token, parallel=parallel)
        done = await self.run("sh -s", stdin=script, timeout=timeout, check=False, retry=retry)
        if done.exit_status not in (0, None) and token not in done.stdout:
            raise _failed(done)
        return split_output(done.stdout, commands, token)

    async def stream(
        self,
        command: str,
        on_output: Callable[[str, bool], None],
        *,
        stdin: bytes | None = None,
    ) -> int | None:
        """Run a command, handing each line of output to `on_output(text, is_stderr)` as it
        arrives; returns the exit status. Never retried: it may have taken effect."""
        conn = await self._ensure()
        self.channels_opened += 1

        async def pump(reader: Any, is_err: bool) -> None:
            async for line in reader:
                on_output(line, is_err)

        try:
            async with conn.create_process(command, encoding="utf-8", errors="replace") as proc:
                if stdin is not None:
                    proc.stdin.write(stdin.decode("utf-8", "replace"))
                proc.stdin.write_eof()
                await asyncio.gather(pump(proc.stdout, False), pump(proc.stderr, True))
                await proc.wait()
                return proc.exit_status
        except DROPPED as exc:
            raise ConnectionLost(
                f"The connection to {self.target.describe()} dropped while running "
                f"`{_short(command)}`.",
                hint="Check with %rv_ps whether it is still running.",
            ) from exc

    async def open_process(self, command: str) -> asyncssh.SSHClientProcess[bytes]:
        """A long-lived command with binary stdin/stdout (a relay); the caller closes it."""
        conn = await self._ensure()
        self.channels_opened += 1
        try:
            return await conn.create_process(command, encoding=None)
        except DROPPED:
            await self._reset()
            conn = await self._ensure()
            return await conn.create_process(command, encoding=None)

    async def create_tcp(self, factory: Any, host: str, port: int) -> tuple[Any, Any]:
        """A direct-tcpip channel to host:port as the login node reaches it, run by the
        session `factory()` makes; (channel, session). PortClosed if nothing listens."""
        conn = await self._ensure()
        try:
            return await conn.create_connection(factory, host, port)
        except asyncssh.ChannelOpenError as exc:
            raise PortClosed(f"{host}:{port} refused the connection: {exc.reason}.") from None
        except DROPPED as exc:
            await self._reset()
            raise ConnectionLost(f"The connection dropped on the way to {host}:{port}.") from exc

    async def forward_to_path(self, path: str, node: str, port: int) -> NodePortListener:
        """Listen on the local Unix socket `path`; each connection reaches port on node
        (see node_ports.py for how)."""
        await self._ensure()
        return await NodePortListener(self, node, port).aunix(path)

    async def forward_to_port(
        self, local_port: int, node: str, port: int, *, listen_host: str = "127.0.0.1"
    ) -> NodePortListener:
        """A plain local TCP forward listen_host:local_port -> port on node (0 picks one)."""
        await self._ensure()
        return await NodePortListener(self, node, port).atcp(listen_host, local_port)

    async def alogin(self) -> asyncssh.SSHClientConnection:
        """The open asyncssh connection (opened if need be), for nodes.py's tunnels."""
        return await self._ensure()

    async def close(self) -> None:
        """Close the connection; the next command opens a new one."""
        self.nodes.close()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            # Already gone is fine: we are closing it.
            with contextlib.suppress(Exception):
                await conn.wait_closed()

    # -- internals ----------------------------------------------------------------

    async def _exec(
        self, command: str, stdin: str | bytes | None, timeout: float | None, binary: bool = False
    ) -> Completed:
        conn = await self._ensure()
        self.channels_opened += 1
        raw = binary or isinstance(stdin, bytes)
        if raw and isinstance(stdin, str):
            stdin = stdin.encode()
        try:
            proc = await conn.run(
                command,
                input=stdin,
                check=False,
                timeout=timeout,
                encoding=None if raw else "utf-8",
                errors="replace",
            )
        except asyncssh.TimeoutError as exc:
            raise CommandTimeout(
                f"`{_short(command)}` did not finish within {timeout:g} s on "
                f"{self.target.describe()}.",
                hint="The cluster may be busy; try again, or raise the timeout.",
            ) from exc
        except DROPPED as exc:
            raise _Dropped() from exc
        if proc.exit_status is None and proc.exit_signal is None:
            # The channel closed without an exit status: the connection went away.
            raise _Dropped()
        out, err = proc.stdout, proc.stderr
        if binary and isinstance(out, bytes):
            return Completed(command, "", _text(err), proc.exit_status, stdout_bytes=out)
        return Completed(command, _text(out), _text(err), proc.exit_status)

    async def _ensure(self) -> asyncssh.SSHClientConnection:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # asyncssh connections belong to the loop that made them.
            self._conn, self._loop, self._lock = None, loop, asyncio.Lock()
            self.nodes.new_loop()
        assert self._lock is not None
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await self._open()
            return self._conn

    async def _reset(self) -> None:
        self.nodes.forget()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()

    async def _open(self) -> asyncssh.SSHClientConnection:
        t = self.target
        self.connects += 1
        missing = [k for k in t.identity_files if not Path(k).expanduser().exists()]
        if missing:
            raise ConfigError(
                f"The SSH key {missing[0]} does not exist.",
                hint="Fix identity_file in [connection] of your rv config, or remove it to use "
                "your SSH agent and ~/.ssh keys.",
            )
        try:
            return await asyncssh.connect(t.host, **connect_options(t))
        except asyncssh.HostKeyNotVerifiable as exc:
            raise await _host_key_error(t) from exc
        except asyncssh.PermissionDenied as exc:
            raise AuthFailed(
                f"{t.describe()} accepted none of the keys offered: {', '.join(_keys_tried(t))}.",
                hint="Check the user name (your computing id) and that your public key is in "
                "~/.ssh/authorized_keys on the cluster; `ssh -v` shows the same attempt.",
            ) from exc
        except (asyncssh.DisconnectError, asyncssh.ConnectionLost) as exc:
            raise SshError(f"{t.describe()} closed the connection: {exc}.") from exc
        except (OSError, asyncio.TimeoutError) as exc:
            raise HostUnreachable(
                f"Cannot reach {t.describe()}: {reason(exc)}.",
                hint="Are you on the UVA VPN? Off-grounds the login nodes answer only "
                "through it. Otherwise check the host name and port in your rv config.",
            ) from exc


class _Dropped(Exception):
    """Internal: the connection went away under a command."""


def connect_options(t: SshTarget) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "connect_timeout": t.connect_timeout,
        "keepalive_interval": t.keepalive_interval,
        "encryption_algs": list(_CIPHERS),
    }
    if t.user:
        opts["username"] = t.user
    if t.port:
        opts["port"] = t.port
    if t.identity_files:
        opts["client_keys"] = list(t.identity_files)
    if t.known_hosts:
        # Strict: only this file's entries are trusted; an unknown key is an error. A
        # file that does not exist yet trusts nothing (asyncssh would fail to open it).
        path = Path(t.known_hosts).expanduser()
        opts["known_hosts"] = str(path) if path.exists() else asyncssh.import_known_hosts("")
    if t.ssh_config is not None:
        opts["config"] = list(t.ssh_config)
    if t.proxy_jump:
        opts["tunnel"] = t.proxy_jump
    return opts


def known_hosts_path(t: SshTarget) -> Path:
    return Path(t.known_hosts or "~/.ssh/known_hosts").expanduser()


async def _host_key_error(t: SshTarget) -> SshError:
    shown = f"[{t.host}]:{t.port}" if t.port and t.port != 22 else t.host
    path = known_hosts_path(t)
    fingerprint = "unknown"
    try:
        key = await asyncssh.get_server_host_key(
            t.host, t.port or (), tunnel=t.proxy_jump or (),
            config=list(t.ssh_config) if t.ssh_config is not None else (),
        )  # fmt: skip
        if key is not None:
            fingerprint = key.get_fingerprint("sha256")
    except (OSError, asyncssh.Error):
        pass
    if _has_entry(path, t):
        return HostKeyChanged(
            f"The host key of {shown} differs from the one in {path} (server now shows "
            f"{fingerprint}). This can mean someone is intercepting the connection.",
            hint=f"If the cluster announced a new key, remove the old entry with "
            f"`ssh-keygen -R '{shown}' -f {path}` and connect once with `ssh` to check the "
            "new fingerprint; otherwise do not connect.",
            fingerprint=fingerprint,
        )
    return HostKeyUnknown(
        f"{shown} is not in {path}; its host key fingerprint is {fingerprint}.",
        hint=f"Compare it with the fingerprint published by UVA Research Computing, then "
        f"trust it: `ssh-keyscan {'-p ' + str(t.port) + ' ' if t.port else ''}{t.host} >> {path}` "
        "(or connect once with `ssh` and answer yes).",
        fingerprint=fingerprint,
    )


def _has_entry(path: Path, t: SshTarget) -> bool:
    if not path.exists():
        return False
    try:
        known = asyncssh.read_known_hosts(str(path))
        addr = socket.gethostbyname(t.host) if t.host else ""
        keys = known.match(t.host, addr, t.port or 22)
    except (OSError, ValueError, asyncssh.Error):
        return False
    return bool(keys[0] or keys[1])


def _keys_tried(t: SshTarget) -> list[str]:
    tried = list(t.identity_files)
    if not tried:
        home = Path("~/.ssh").expanduser()
        tried = [str(home / k) for k in _DEFAULT_KEYS if (home / k).exists()]
    if os.environ.get("SSH_AUTH_SOCK"):
        tried.append("keys in the SSH agent")
    return tried or ["none found (no ~/.ssh/id_* keys and no SSH agent)"]


def reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _text(data: str | bytes | None) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def _short(command: str) -> str:
    line = command.strip().splitlines()[0] if command.strip() else command
    return line if len(line) <= 120 else line[:117] + "..."


def _failed(done: Completed) -> CommandFailed:
    tail = "\n".join(done.stderr.strip().splitlines()[-5:])
    return CommandFailed(
        f"`{_short(done.command)}` exited with status {done.exit_status}"
        + (f": {tail}" if tail else "."),
        command=done.command,
        exit_status=done.exit_status,
        stdout=done.stdout,
        stderr=done.stderr,
    )
