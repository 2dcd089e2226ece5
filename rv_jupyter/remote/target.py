"""Where to connect: the SSH settings of one cluster, as a hashable value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SshTarget:
    """One login host as the user reaches it; unset fields come from ~/.ssh/config.

    `host` may be an alias from ~/.ssh/config (HostName, User, Port, IdentityFile and
    ProxyJump are then read from there, as OpenSSH does).
    """

    host: str
    user: str | None = None
    port: int | None = None
    identity_files: tuple[str, ...] = ()
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts, as OpenSSH
    ssh_config: tuple[str, ...] | None = None  # None: ~/.ssh/config if it exists
    proxy_jump: str | None = None
    connect_timeout: float = 15.0
    keepalive_interval: float = 30.0

    def describe(self) -> str:
        """user@host:port as a person would write it."""
        who = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{who}{self.host}{port}"
