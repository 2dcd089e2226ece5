"""Where to connect: the SSH settings of one cluster, as a hashable value."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from rv_jupyter.errors import ConfigError


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

    def __post_init__(self) -> None:
        _check("host", self.host, hint="e.g. login.hpc.virginia.edu or an alias from ~/.ssh/config")
        if self.user is not None:
            _check("user", self.user, hint="your UVA computing id, e.g. abs6bd")
        if self.proxy_jump is not None:
            _check("proxy_jump", self.proxy_jump, hint="e.g. user@jumphost:22")

    def describe(self) -> str:
        """user@host:port as a person would write it."""
        who = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{who}{self.host}{port}"


def _check(name: str, value: str, *, hint: str) -> None:
    """Refuse what no SSH server accepts (asyncssh would fail deep inside, untranslated)."""
    bad = next((c for c in value if c.isspace() or unicodedata.category(c)[0] == "C"), None)
    if not value or bad is not None:
        shown = value if len(value) <= 60 else value[:57] + "..."
        what = "is empty" if not value else f"contains {bad!r}"
        raise ConfigError(
            f"The SSH {name} {shown!r} {what}: spaces and control characters are not allowed.",
            hint=f"Give the {name} as a single word ({hint}).",
        )
    if name == "user":
        from asyncssh.saslprep import SASLPrepError, saslprep

        try:
            saslprep(value)
        except SASLPrepError as exc:
            raise ConfigError(
                f"The SSH user {value!r} is not a valid user name: {exc}.", hint=f"Use {hint}."
            ) from None
