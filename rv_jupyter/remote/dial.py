"""Opening an SSH connection: ssh_config resolved once, every hop's host key checked.

asyncssh left to itself turns `UserKnownHostsFile none` into "no host key check at
all", opens a ProxyJump hop with its own defaults (not our known_hosts, not our
checks), and accepts a key listed for a plain host on any port. Here the known-hosts
sources are resolved as OpenSSH does (the rv config's file; else ssh_config's
UserKnownHostsFile and GlobalKnownHostsFile; else ~/.ssh/known_hosts and
/etc/ssh/ssh_known_hosts), every hop is opened by us with the same rules, and
asyncssh always gets an explicit matcher: validation is never off.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh.config import SSHClientConfig

from rv_jupyter.errors import (
    AuthFailed,
    ConfigError,
    HostKeyChanged,
    HostKeyError,
    HostKeyUnknown,
    HostUnreachable,
    RequestError,
    RvError,
    SshError,
)
from rv_jupyter.remote.known_hosts import KnownHosts, entry_name
from rv_jupyter.remote.target import SshTarget

# asyncssh's own choices, AES-GCM first: with the AES instructions of any recent laptop it
# moves ~1.7x the bytes per second of ChaCha20-Poly1305 (asyncssh's first choice), which
# is what proxied downloads feel. All of these are equally sound; the server picks.
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
_DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_ed25519_sk", "id_ecdsa_sk", "id_rsa")
USER_FILES = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
GLOBAL_FILES = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
_MAX_HOPS = 8


@dataclass
class Route:
    """One hop as ssh_config resolves it, and the host keys it may show."""

    alias: str  # as given (a ~/.ssh/config alias or a host name)
    host: str  # HostName
    port: int
    user: str | None
    jumps: tuple[str, ...]  # ProxyJump hops, in order
    key_name: str  # what known_hosts lists it as (HostKeyAlias, else HostName)
    files: tuple[Path, ...]  # the known_hosts files to check against
    record_to: Path | None  # where a newly trusted key goes (OpenSSH: the first user file)
    unchecked: str | None = None  # why no file at all would be consulted (then: refuse)
    known: KnownHosts = field(default_factory=KnownHosts)

    @property
    def shown(self) -> str:
        """The host as known_hosts would name it."""
        return entry_name(self.key_name, self.port)

    def describe_files(self) -> str:
        """The files checked, for a message."""
        return " or ".join(str(f) for f in self.files) or "no known_hosts file"


def resolve(
    t: SshTarget, alias: str | None = None, *, user: str | None = None, port: int | None = None
) -> Route:
    """Resolve `alias` (the target's host by default) through ssh_config, as ssh would."""
    login = alias is None
    alias = t.host if alias is None else alias
    if login:
        user, port = t.user, t.port
    cfg = _ssh_config(t, alias, user, port)
    host = str(cfg.get("Hostname") or alias)
    real_port = int(port or cfg.get("Port") or 22)  # type: ignore[call-overload]
    jump = t.proxy_jump if login and t.proxy_jump else cfg.get("ProxyJump")
    if t.known_hosts:
        user_files: list[str] = [t.known_hosts]
        global_files: list[str] = []
        unchecked = None
    else:
        given_user = cfg.get("UserKnownHostsFile")
        given_global = cfg.get("GlobalKnownHostsFile")
        user_files = list(USER_FILES) if given_user is None else list(given_user)  # type: ignore[call-overload]
        global_files = list(GLOBAL_FILES) if given_global is None else list(given_global)  # type: ignore[call-overload]
        unchecked = (
            None
            if user_files or global_files
            else "UserKnownHostsFile and GlobalKnownHostsFile are both `none` for "
            f"{alias} in your ssh_config"
        )
    files = tuple(_expand(f) for f in [*user_files, *global_files])
    route = Route(
        alias=alias,
        host=host,
        port=real_port,
        user=str(cfg.get("User")) if cfg.get("User") else None,
        jumps=tuple(j.strip() for j in str(jump).split(",") if j.strip()) if jump else (),
        key_name=str(cfg.get("HostKeyAlias") or host),
        files=files,
        record_to=_expand(user_files[0]) if user_files else None,
        unchecked=unchecked,
    )
    route.known = KnownHosts.read(files)
    return route


def _ssh_config(t: SshTarget, alias: str, user: str | None, port: int | None) -> SSHClientConfig:
    if t.ssh_config is None:
        default = Path("~/.ssh/config").expanduser()
        paths: list[Path] = [default] if os.access(default, os.R_OK) else []
    else:
        paths = [Path(p).expanduser() for p in t.ssh_config]
    try:
        local = getpass.getuser()
    except (KeyError, OSError):
        local = "unknown"
    try:
        # The call asyncssh makes itself: its parse, so both agree on every value.
        return SSHClientConfig.load(
            None, paths, False, False, False, local, user or (), alias, port or ()
        )  # type: ignore[return-value]
    except (OSError, ValueError, asyncssh.Error) as exc:
        raise ConfigError(f"Cannot use the ssh_config {', '.join(map(str, paths))}: {exc}") from exc


def _expand(path: str) -> Path:
    home = str(Path("~").expanduser())
    return Path(path.replace("%d", home).replace("%%", "%")).expanduser()


def _hop(spec: str) -> tuple[str, str | None, int | None]:
    """`user@host:port` of a ProxyJump entry -> (host, user, port)."""
    spec = spec.removeprefix("ssh://")
    user, _, host = spec.rpartition("@")
    port: int | None = None
    if host.count(":") == 1:
        host, _, port_text = host.partition(":")
        if not port_text.isdigit():
            raise ConfigError(f"ProxyJump {spec!r} has an invalid port.", hint="user@host:port")
        port = int(port_text)
    return host.strip("[]"), user or None, port


def connect_options(t: SshTarget, route: Route, via: Any, *, keys: bool) -> dict[str, Any]:
    """asyncssh.connect's keywords for `route`: the checks always on, our own tunnel.

    `keys`: offer the rv config's identity files (the cluster's hosts; a ProxyJump hop
    gets ssh_config's and the defaults, as `ssh -J` gives it)."""
    opts: dict[str, Any] = {
        "port": route.port,
        "connect_timeout": t.connect_timeout,
        "keepalive_interval": t.keepalive_interval,
        "encryption_algs": list(CIPHERS),
        "known_hosts": route.known,
        "server_host_key_algs": route.known.host_key_algs(route.key_name, route.port),
        "config": list(t.ssh_config) if t.ssh_config is not None else (),
        # Never asyncssh's own ProxyJump handling: it would use its own checks.
        "tunnel": via,
    }
    if route.user:
        opts["username"] = route.user
    if keys and t.identity_files:
        opts["client_keys"] = list(t.identity_files)
    return opts


async def open_connection(t: SshTarget) -> asyncssh.SSHClientConnection:
    """The login connection, every hop checked; errors are RvErrors naming the hop."""
    missing = [k for k in t.identity_files if not Path(k).expanduser().exists()]
    if missing:
        raise ConfigError(
            f"The SSH key {missing[0]} does not exist.",
            hint="Fix identity_file in [connection] of your rv config, or remove it to use "
            "your SSH agent and ~/.ssh keys.",
        )
    route = await asyncio.to_thread(resolve, t)
    return await _dial(t, route, login=True, depth=0)


async def jump_to(t: SshTarget, route: Route, depth: int = 0) -> Any:
    """The verified connection `route` is reached through (None when direct)."""
    if depth > _MAX_HOPS:
        raise ConfigError(f"ProxyJump for {route.alias} loops.", hint="Check your ssh_config.")
    via: Any = None
    for spec in route.jumps:
        host, user, port = _hop(spec)
        hop = await asyncio.to_thread(resolve, t, host, user=user, port=port)
        if via is None:
            via = await _dial(t, hop, login=False, depth=depth + 1)
        else:
            # Later hops go through the earlier ones (as `ssh -J a,b` does).
            hop.jumps = ()
            via = await _dial_one(t, hop, via, login=False)
    return via


async def _dial(t: SshTarget, route: Route, *, login: bool, depth: int) -> Any:
    via = await jump_to(t, route, depth)
    try:
        conn = await _dial_one(t, route, via, login=login)
    except BaseException:
        if via is not None:
            via.close()
        raise
    if via is not None:
        conn.set_tunnel(via)  # closing the connection closes its hops
    return conn


async def _dial_one(t: SshTarget, route: Route, via: Any, *, login: bool) -> Any:
    where = "" if login else f" (jump host {route.alias})"
    if route.unchecked:
        raise HostKeyError(
            f"No known_hosts file to check {route.shown}{where} against: {route.unchecked}. "
            "rv never connects without checking the host key.",
            hint='Set known_hosts = "~/.ssh/known_hosts" in [connection] of your rv config, '
            "or remove the `none`s.",
        )
    try:
        return await asyncssh.connect(route.alias, **connect_options(t, route, via, keys=login))
    except asyncssh.HostKeyNotVerifiable as exc:
        raise await host_key_error(t, route, via, where) from exc
    except asyncssh.PermissionDenied as exc:
        tried = ", ".join(_keys_tried(t) if login else ["your ~/.ssh keys and SSH agent"])
        raise AuthFailed(
            f"{_who(route)}{where} accepted none of the keys offered: {tried}.",
            hint="Check the user name (your computing id) and that your public key is in "
            "~/.ssh/authorized_keys on the cluster; `ssh -v` shows the same attempt.",
        ) from exc
    except (asyncssh.DisconnectError, asyncssh.ConnectionLost) as exc:
        raise SshError(f"{_who(route)}{where} closed the connection: {exc}.") from exc
    except (OSError, asyncio.TimeoutError) as exc:
        raise HostUnreachable(
            f"Cannot reach {_who(route)}{where}: {reason(exc)}.",
            hint="Are you on the UVA VPN? Off-grounds the login nodes answer only "
            "through it. Otherwise check the host name and port in your rv config.",
        ) from exc
    except RvError:
        raise
    except (asyncssh.Error, ValueError) as exc:
        # Anything else asyncssh refuses (a bad user name, key file or option).
        raise SshError(f"Cannot connect to {_who(route)}{where}: {exc}.") from exc


async def server_key(t: SshTarget, route: Route, via: Any) -> asyncssh.SSHKey | None:
    """The key the server shows us (reached the way a connection would be)."""
    opts = connect_options(t, route, via, keys=False)
    return await asyncssh.get_server_host_key(
        route.alias, route.port, tunnel=via, config=opts["config"],
        server_host_key_algs=opts["server_host_key_algs"],
    )  # fmt: skip


async def record_host_key(t: SshTarget, fingerprint: str) -> Path:
    """Add the server's key to known_hosts if it is the one with `fingerprint`.

    The server is reached as a connection would reach it (ssh_config alias, port,
    ProxyJump hops checked), and the entry goes where OpenSSH would write it.
    """
    route = await asyncio.to_thread(resolve, t)
    if route.record_to is None:
        raise HostKeyError(
            f"Nowhere to record the host key of {route.shown}: UserKnownHostsFile is `none` "
            f"for {route.alias} in your ssh_config.",
            hint='Set known_hosts = "~/.ssh/known_hosts" in [connection] of your rv config.',
        )
    via = await jump_to(t, route)
    try:
        key = await server_key(t, route, via)
    except (OSError, asyncio.TimeoutError) as exc:
        raise HostUnreachable(f"Cannot reach {_who(route)}: {reason(exc)}.") from exc
    except (asyncssh.Error, ValueError) as exc:
        raise SshError(f"Cannot read the host key of {_who(route)}: {exc}.") from exc
    finally:
        if via is not None:
            via.close()
    if key is None or key.get_fingerprint("sha256") != fingerprint:
        raise RequestError(
            f"The server's host key does not match {fingerprint}; nothing was trusted.",
            hint="Check the fingerprint UVA publishes; someone may be intercepting.",
        )
    line = f"{route.shown} {key.export_public_key('openssh').decode().strip()}\n"
    route.record_to.parent.mkdir(parents=True, exist_ok=True)
    with route.record_to.open("a", encoding="utf-8") as fh:
        fh.write(line)
    return route.record_to


async def host_key_error(t: SshTarget, route: Route, via: Any, where: str = "") -> HostKeyError:
    """Unknown or changed, with the fingerprint the server shows now."""
    fingerprint = "unknown"
    try:
        key = await server_key(t, route, via)
        if key is not None:
            fingerprint = key.get_fingerprint("sha256")
    except (OSError, asyncssh.Error, ValueError):
        pass
    shown, files = route.shown, route.describe_files()
    notes = route.known.notes()
    if route.known.has_entry(route.key_name, route.port):
        return HostKeyChanged(
            f"The host key of {shown}{where} differs from the one in {files} (server now "
            f"shows {fingerprint}). This can mean someone is intercepting the connection." + notes,
            hint=f"If the cluster announced a new key, remove the old entry with "
            f"`ssh-keygen -R '{shown}' -f {route.record_to}` and connect once with `ssh` to "
            "check the new fingerprint; otherwise do not connect.",
            fingerprint=fingerprint,
        )
    if route.known.only_without_port(route.key_name, route.port):
        notes += (
            f" {route.key_name} is listed without a port: for port {route.port} known_hosts "
            f"needs `{shown}` (as OpenSSH does)."
        )
    port = f"-p {route.port} " if route.port != 22 else ""
    into = route.record_to or "the known_hosts you then name in [connection] of your rv config"
    return HostKeyUnknown(
        f"{shown}{where} is not in {files}; its host key fingerprint is {fingerprint}." + notes,
        hint=f"Compare it with the fingerprint published by UVA Research Computing, then "
        f"trust it: `ssh-keyscan {port}{route.host} >> {into}` "
        "(or connect once with `ssh` and answer yes).",
        fingerprint=fingerprint,
    )


def _who(route: Route) -> str:
    who = f"{route.user}@" if route.user else ""
    port = f":{route.port}" if route.port != 22 else ""
    return f"{who}{route.alias}{port}"


def _keys_tried(t: SshTarget) -> list[str]:
    tried = list(t.identity_files)
    if not tried:
        home = Path("~/.ssh").expanduser()
        tried = [str(home / k) for k in _DEFAULT_KEYS if (home / k).exists()]
    if os.environ.get("SSH_AUTH_SOCK"):
        tried.append("keys in the SSH agent")
    return tried or ["none found (no ~/.ssh/id_* keys and no SSH agent)"]


def reason(exc: BaseException) -> str:
    """A few words for why a socket-level operation failed."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
