"""Every error rv-jupyter raises on purpose, as one tree.

    RvError                      message + hint (what to do) + context
    ├── ConfigError              ~/.rv/config.toml missing, unreadable or invalid
    ├── SshError                 talking to the cluster over SSH
    │   ├── HostUnreachable      refused / no route / DNS: usually "not on the VPN"
    │   ├── AuthFailed           no key was accepted (lists the keys tried)
    │   ├── HostKeyError         host key not trusted
    │   │   ├── HostKeyUnknown   no entry in known_hosts (shows the fingerprint)
    │   │   └── HostKeyChanged   entry differs from what the server shows
    │   ├── PortClosed           nothing listens on that port (as seen from the cluster)
    │   ├── NodeLinkError        no SSH straight to a compute node (srun is used instead)
    │   ├── ConnectionLost       dropped and could not be re-established
    │   ├── CommandFailed        a remote command exited non-zero
    │   └── CommandTimeout       no answer in time (also an asyncio.TimeoutError)
    ├── RequestError             a request that is malformed or over a limit (nothing submitted)
    │   └── UnknownJob           not one of your own (running) jobs; nothing was touched
    ├── SlurmError               what Slurm or UVA's tools told us
    │   ├── ParseError           output we cannot read (shows the offending line)
    │   └── SubmitRefused        sbatch refused a job (reason from Slurm)
    └── KernelError              a remote kernel did not start, or cannot run in its job

tests/unit/test_errors.py checks this drawing against the classes.

Lower-layer errors (asyncssh, OSError, pydantic) are translated once, at the
boundary that sees them, with ``raise Mapped(...) from exc``; faces (magics,
widgets, REST handlers) only ever see ``RvError`` and show ``str(err)``.
"""

from __future__ import annotations

import asyncio
from typing import Any


class RvError(Exception):
    """Base of all rv-jupyter errors: what happened, and what to do about it."""

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context = context

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class ConfigError(RvError):
    """The rv config file is missing, unreadable or has an invalid value."""


class SshError(RvError):
    """Something went wrong talking to the cluster over SSH."""


class HostUnreachable(SshError):
    """The login host could not be reached at all."""


class AuthFailed(SshError):
    """The server accepted none of the keys offered."""


class HostKeyError(SshError):
    """The server's host key is not trusted; never auto-accepted."""


class HostKeyUnknown(HostKeyError):
    """No known_hosts entry for the server."""


class HostKeyChanged(HostKeyError):
    """known_hosts has an entry for the server, but a different key."""


class PortClosed(SshError):
    """Nothing accepted a connection on that host and port (as seen from the cluster)."""


class NodeLinkError(SshError):
    """SSH straight to a compute node is not possible (host key, access, network)."""


class ConnectionLost(SshError):
    """The connection dropped and a reconnect did not bring it back."""


class CommandFailed(SshError):
    """A remote command exited with a non-zero status."""

    def __init__(
        self,
        message: str,
        *,
        command: str,
        exit_status: int | None,
        stdout: str = "",
        stderr: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, command=command)
        self.command = command
        self.exit_status = exit_status
        self.stdout = stdout
        self.stderr = stderr


class CommandTimeout(SshError, asyncio.TimeoutError):
    """A remote command or the connection did not answer in time."""


class RequestError(RvError):
    """A request that cannot be served as asked; nothing was submitted."""


class UnknownJob(RequestError):
    """A job id that is not among the user's own (running) jobs; nothing was touched."""


class SlurmError(RvError):
    """Slurm, or one of UVA's commands, reported a problem."""


class ParseError(SlurmError):
    """Output of a cluster command that could not be read."""

    def __init__(self, message: str, *, command: str, line: str, hint: str | None = None) -> None:
        shown = line if len(line) <= 300 else line[:300] + "…"
        super().__init__(
            f"{message} (in `{command}` output: {shown!r})",
            hint=hint or "The cluster's output format may have changed; please report this line.",
            command=command,
            line=line,
        )
        self.command = command
        self.line = line


class SubmitRefused(SlurmError):
    """sbatch refused to queue a job."""


class KernelError(RvError):
    """A remote kernel did not start, or cannot run in its job any more."""


def clip(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters, marked with "...": what a message echoes of the
    user's input must not bury the message (a 10,000-character line was echoed whole)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
