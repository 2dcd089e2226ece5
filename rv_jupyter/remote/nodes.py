"""SSH connections into compute nodes, tunnelled through the login connection.

What `ssh -J login node` does: Rivanna lets a user onto a node where they have a job
(pam_slurm_adopt). Remote kernels use it to reach their ports on the node's loopback
without Slurm's stdio forwarding in the way. A node's host key is checked like the login
node's: it must be in the local known_hosts, or in the cluster's own lists as the login
node (already verified) shows them: /etc/ssh/ssh_known_hosts, which the admins keep, and
the user's ~/.ssh/known_hosts there. A key found nowhere is never accepted.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Protocol

import asyncssh

from rv_jupyter.errors import ConnectionLost, NodeLinkError, PortClosed
from rv_jupyter.remote.batch import Completed
from rv_jupyter.remote.dial import connect_options, reason, resolve
from rv_jupyter.remote.failures import DROPPED
from rv_jupyter.remote.known_hosts import KnownHosts
from rv_jupyter.remote.target import SshTarget

CLUSTER_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "~/.ssh/known_hosts")


class Login(Protocol):
    """What node links need of the login connection they are tunnelled through."""

    target: SshTarget

    async def alogin(self) -> asyncssh.SSHClientConnection:
        """The open login connection."""

    async def run(self, command: str, *, check: bool = ..., retry: bool = ...) -> Completed:
        """Run one command on the login node."""


class NodeLinks:
    """The SSH connections of one login connection into its cluster's nodes."""

    def __init__(self, login: Login) -> None:
        self.login = login
        self.connects = 0
        self._links: dict[str, asyncssh.SSHClientConnection] = {}
        self._users: dict[str, int] = {}  # node -> things holding it (see hold)
        self._lock: asyncio.Lock | None = None

    @property
    def linked(self) -> list[str]:
        """Nodes with an open SSH connection now."""
        return sorted(n for n, link in self._links.items() if not link.is_closed())

    async def open(self, node: str, port: int) -> tuple[Any, Any]:
        """A stream (reader, writer) to `port` on `node`'s own loopback."""
        return await self._channel(node, port, lambda link: link.open_connection)

    async def create(self, factory: Any, node: str, port: int) -> tuple[Any, Any]:
        """A channel to `port` on `node`'s loopback run by `factory()`'s session."""
        return await self._channel(
            node, port, lambda link: functools.partial(link.create_connection, factory)
        )

    async def _channel(self, node: str, port: int, how: Any) -> Any:
        """Raises NodeLinkError when the node cannot be reached this way, PortClosed when
        nothing listens there, ConnectionLost when the connection fails on the way."""
        link = await self._link(node)
        try:
            return await how(link)("127.0.0.1", port)
        except asyncssh.ChannelOpenError as exc:
            if link.is_closed():
                self._links.pop(node, None)
                raise ConnectionLost(f"The SSH connection to {node} dropped.") from exc
            reason = f"{node} refused a connection to its port {port}: {exc.reason}."
            raise PortClosed(reason) from None
        except DROPPED as exc:
            self._links.pop(node, None)
            raise ConnectionLost(f"The SSH connection to {node} dropped.") from exc

    def hold(self, node: str) -> None:
        """Something will reach `node` through open() until it calls release()."""
        self._users[node] = self._users.get(node, 0) + 1

    def release(self, node: str) -> None:
        """The last holder gone, the node's SSH connection closes (its job may be over)."""
        left = self._users.get(node, 0) - 1
        if left > 0:
            self._users[node] = left
            return
        self._users.pop(node, None)
        link = self._links.pop(node, None)
        if link is not None:
            link.close()

    def close(self) -> None:
        """Close every node's connection (the login connection is closing)."""
        links, self._links = list(self._links.values()), {}
        for link in links:
            link.close()

    def forget(self) -> None:
        """The login connection dropped, and these ran inside it."""
        self._links.clear()

    def new_loop(self) -> None:
        """asyncssh connections and locks belong to the loop that made them."""
        self._links, self._lock = {}, asyncio.Lock()

    async def _link(self, node: str) -> asyncssh.SSHClientConnection:
        login = await self.login.alogin()
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # not the login's lock: commands go on meanwhile
            link = self._links.get(node)
            if link is not None and not link.is_closed():
                return link
            t = self.login.target
            user = login.get_extra_info("username") or t.user
            # The node's own ssh_config entry decides its local files, as for `ssh node`.
            route = await asyncio.to_thread(resolve, t, node, user=user)
            local = route.describe_files()
            route.known = KnownHosts.read(
                route.files, await self._cluster_lists(), "the cluster's lists"
            )
            opts = connect_options(t, route, login, keys=True)
            self.connects += 1
            try:
                link = await asyncssh.connect(node, **opts)
                # OpenSSH's sshd sets TCP_NODELAY on a connection's socket when it starts
                # its first session; a connection used only for forwarding keeps Nagle on,
                # and each reply's second small write then waits ~40 ms for a delayed ACK.
                await link.run("true", check=False)
            except asyncssh.HostKeyNotVerifiable as exc:
                raise NodeLinkError(
                    f"The host key of {node} is neither in {local} nor in the cluster's "
                    f"{' or '.join(CLUSTER_KNOWN_HOSTS)}.",
                    hint=f"`ssh {node}` once from the login node (while you have a job there) "
                    "records it on the cluster. Until then kernels on "
                    f"{node} are reached through srun, which is slower.",
                ) from exc
            except asyncssh.PermissionDenied as exc:
                raise NodeLinkError(f"{node} did not let this user in over SSH.") from exc
            except (OSError, asyncssh.Error, ValueError, asyncio.TimeoutError) as exc:
                raise NodeLinkError(f"Cannot reach {node} over SSH: {reason(exc)}.") from exc
            self._links[node] = link
            return link

    async def _cluster_lists(self) -> str:
        """The cluster's known_hosts lists, read through the (verified) login node."""
        files = " ".join(CLUSTER_KNOWN_HOSTS)
        done = await self.login.run(f"cat {files} 2>/dev/null; true", check=False, retry=True)
        return done.stdout
