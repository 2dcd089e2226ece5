"""One asyncssh connection per cluster, shared by everything in the process.

With dial.py (opening connections) and nodes.py (into compute nodes), the only module that
awaits SSH.
asyncssh errors are translated here, once, into the `rv_jupyter.errors` tree; nothing
above sees an asyncssh exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import asyncssh

from rv_jupyter.errors import (
    CommandFailed,
    CommandTimeout,
    ConnectionLost,
    PortClosed,
    SshError,
)
from rv_jupyter.remote.batch import Completed, build_script, new_token, split_output
from rv_jupyter.remote.dial import open_connection
from rv_jupyter.remote.failures import DROPPED
from rv_jupyter.remote.node_ports import NodePortListener
from rv_jupyter.remote.nodes import NodeLinks
from rv_jupyter.remote.target import SshTarget


class Connection:
    """The shared SSH connection to one target; opened on first use, reopened if dropped.

    A command is sent again after a drop only when the drop came before it started
    (the channel never opened), or when the caller says it is safe to repeat
    (`retry=True`: reads and other idempotent commands). Anything else that drops is
    reported as ConnectionLost: it may have taken effect.
    """

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
        retry: bool = False,
        binary: bool = False,
        shown: str | None = None,
    ) -> Completed:
        """Run one command; `stdin` carries scripts and secrets (never the command line).

        With `binary`, stdout comes back undecoded in `stdout_bytes` (e.g. a tar stream).
        `retry=True` only for commands that may run twice (reads): then a drop mid-command
        reopens the connection and runs it once more. `shown` names it in errors.
        """
        what = shown or _short(command)
        try:
            done = await self._exec(command, stdin, timeout, binary)
        except _Dropped as dropped:
            if not retry:
                raise _lost(self.target, what) from None
            await self._reset(dropped.conn)
            try:
                done = await self._exec(command, stdin, timeout, binary)
            except _Dropped as exc:
                raise ConnectionLost(
                    f"The connection to {self.target.describe()} dropped twice while "
                    f"running `{what}`.",
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
        retry: bool = False,
    ) -> list[Completed]:
        """Run `commands` in one round trip; each result has its own stdout, stderr, status.

        `retry=True` only when every command may run twice (reads).
        """
        if not commands:
            return []
        token = new_token()
        script = build_script(commands, token, parallel=parallel)
        shown = "; ".join(_short(c) for c in commands[:2]) + ("; ..." if len(commands) > 2 else "")
        done = await self.run(
            "sh -s", stdin=script, timeout=timeout, check=False, retry=retry, shown=_short(shown)
        )
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
        arrives; returns the exit status. Never repeated once started: it may have taken
        effect."""

        async def pump(reader: Any, is_err: bool) -> None:
            async for line in reader:
                on_output(line, is_err)

        proc = await self._start(command, encoding="utf-8", retry=False)
        try:
            async with proc:
                if stdin is not None:
                    proc.stdin.write(stdin.decode("utf-8", "replace"))
                proc.stdin.write_eof()
                await asyncio.gather(pump(proc.stdout, False), pump(proc.stderr, True))
                await proc.wait()
                return proc.exit_status
        except (*DROPPED, asyncssh.ChannelOpenError) as exc:
            raise ConnectionLost(
                f"The connection to {self.target.describe()} dropped while running "
                f"`{_short(command)}`.",
                hint="Check with %rv_ps whether it is still running.",
            ) from exc
        except asyncssh.Error as exc:
            raise SshError(
                f"`{_short(command)}` failed on {self.target.describe()}: {exc}."
            ) from exc

    async def open_process(
        self, command: str, *, retry: bool = False
    ) -> asyncssh.SSHClientProcess[bytes]:
        """A long-lived command with binary stdin/stdout (a relay); the caller closes it.

        `retry=True` if a second copy of it is harmless should a drop hide whether the
        first started."""
        return await self._start(command, encoding=None, retry=retry)

    async def create_tcp(self, factory: Any, host: str, port: int) -> tuple[Any, Any]:
        """A direct-tcpip channel to host:port as the login node reaches it, run by the
        session `factory()` makes; (channel, session). PortClosed if nothing listens."""
        conn = await self._ensure()
        try:
            return await conn.create_connection(factory, host, port)
        except asyncssh.ChannelOpenError as exc:
            if conn.is_closed():
                await self._reset(conn)
                raise ConnectionLost(
                    f"The connection dropped on the way to {host}:{port}."
                ) from exc
            # Open, so the refusal was the target's: nothing listens there.
            raise PortClosed(f"{host}:{port} refused the connection: {exc.reason}.") from None
        except DROPPED as exc:
            await self._reset(conn)
            raise ConnectionLost(f"The connection dropped on the way to {host}:{port}.") from exc
        except asyncssh.Error as exc:
            raise SshError(f"No channel to {host}:{port}: {exc}.") from exc

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
        if self._loop is not asyncio.get_running_loop():
            # Made on another loop (maybe closed by now): only that loop may touch it.
            self._conn, self._loop, self._lock = None, None, None
            self.nodes.new_loop()
            return
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
        raw = binary or isinstance(stdin, bytes)
        if raw and isinstance(stdin, str):
            stdin = stdin.encode()
        proc = await self._start(command, encoding=None if raw else "utf-8", retry=None)
        conn = self._conn
        try:
            if stdin:
                proc.stdin.write(stdin)
            proc.stdin.write_eof()
            result = await proc.wait(check=False, timeout=timeout)
        except asyncssh.TimeoutError as exc:
            raise CommandTimeout(
                f"`{_short(command)}` did not finish within {timeout:g} s on "
                f"{self.target.describe()}.",
                hint="The cluster may be busy; try again, or raise the timeout.",
            ) from exc
        except DROPPED as exc:
            raise _Dropped(conn) from exc
        except asyncssh.Error as exc:
            raise SshError(
                f"`{_short(command)}` failed on {self.target.describe()}: {exc}."
            ) from exc
        finally:
            proc.close()
        if result.exit_status is None and result.exit_signal is None:
            # The channel closed without an exit status: the connection went away.
            raise _Dropped(conn)
        out, err = result.stdout, result.stderr
        if binary and isinstance(out, bytes):
            return Completed(command, "", _text(err), result.exit_status, stdout_bytes=out)
        return Completed(command, _text(out), _text(err), result.exit_status)

    async def _start(self, command: str, *, encoding: str | None, retry: bool | None) -> Any:
        """An exec channel running `command`, reopening the connection if it had dropped
        before the command was sent. After that, a drop is _Dropped (retry None: the
        caller decides), ConnectionLost, or with `retry` one more try."""
        for attempt in (1, 2):
            conn = await self._ensure()
            self.channels_opened += 1
            opened: list[asyncssh.SSHClientProcess[Any]] = []

            def factory(
                opened: list[asyncssh.SSHClientProcess[Any]] = opened,
            ) -> asyncssh.SSHClientProcess[Any]:
                # asyncssh makes the session only once the server confirmed the channel;
                # the exec request follows. Before that, nothing can have run.
                proc: asyncssh.SSHClientProcess[Any] = asyncssh.SSHClientProcess()
                opened.append(proc)
                return proc

            try:
                await conn.create_session(factory, command, encoding=encoding, errors="replace")
                await opened[0].redirect(asyncssh.PIPE, asyncssh.PIPE, asyncssh.PIPE)
                return opened[0]
            except (*DROPPED, asyncssh.ChannelOpenError) as exc:
                dropped = conn.is_closed() or not isinstance(exc, asyncssh.ChannelOpenError)
                if not dropped:
                    # The server refused the session (e.g. its MaxSessions), the
                    # connection is fine: nothing ran, and trying again now would not help.
                    raise SshError(
                        f"{self.target.describe()} refused to run `{_short(command)}`: "
                        f"{exc.reason if isinstance(exc, asyncssh.ChannelOpenError) else exc}.",
                        hint="Too many commands at once on one connection? Try again.",
                    ) from exc
                await self._reset(conn)
                if not opened:
                    if attempt == 1:
                        continue  # the command never reached the server: safe to send
                    raise ConnectionLost(
                        f"The connection to {self.target.describe()} dropped twice before "
                        f"`{_short(command)}` could start; it did not run.",
                        hint="Check your network or VPN, then try again.",
                    ) from exc
                if retry is None:
                    raise _Dropped(conn) from exc
                if not retry:
                    raise _lost(self.target, _short(command)) from exc
                if attempt == 2:
                    raise ConnectionLost(
                        f"The connection to {self.target.describe()} dropped twice while "
                        f"starting `{_short(command)}`.",
                        hint="Check your network or VPN, then try again.",
                    ) from exc
            except asyncssh.Error as exc:
                raise SshError(
                    f"`{_short(command)}` could not start on {self.target.describe()}: {exc}."
                ) from exc
        raise AssertionError("unreachable")

    async def _ensure(self) -> asyncssh.SSHClientConnection:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # asyncssh connections belong to the loop that made them.
            self._conn, self._loop, self._lock = None, loop, asyncio.Lock()
            self.nodes.new_loop()
        assert self._lock is not None
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self.connects += 1
                self._conn = await open_connection(self.target)
            return self._conn

    async def _reset(self, dropped: object = None) -> None:
        """Forget the dropped connection (not a newer one another caller opened since)."""
        if dropped is not None and dropped is not self._conn:
            return
        self.nodes.forget()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()


def _lost(target: SshTarget, what: str) -> ConnectionLost:
    return ConnectionLost(
        f"The connection to {target.describe()} dropped while running `{what}`; not "
        "retried because it may have taken effect.",
        hint="Check with %rv_ps (or look at its output) before running it again.",
    )


class _Dropped(Exception):
    """Internal: the connection went away after the command may have started."""

    def __init__(self, conn: object = None) -> None:
        super().__init__()
        self.conn = conn  # the connection that dropped (a newer one may be open already)


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
