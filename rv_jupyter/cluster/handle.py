"""The cluster handle: one per configured cluster and process, over one SSH connection.

Faces (magics, widgets, the server extension) call these methods and nothing below
them. Async methods are the core; the sync ones wrap them once through
`rv_jupyter.cluster.background` so notebook code never needs an event loop of its own.
"""

from __future__ import annotations

import logging
import shlex
import threading
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import ClassVar, Literal

from rv_jupyter import config as rv_config
from rv_jupyter import slurm
from rv_jupyter.cluster.background import run_sync
from rv_jupyter.cluster.forwards import Forwards
from rv_jupyter.cluster.poller import Poller
from rv_jupyter.errors import RequestError, UnknownJob
from rv_jupyter.facts import RemotePaths
from rv_jupyter.remote import Completed, Connection, SshTarget
from rv_jupyter.slurm.state import ClusterState
from rv_jupyter.slurm.state_reads import WHOAMI, assemble, state_commands

_log = logging.getLogger(__name__)


def ssh_target(cfg: rv_config.RvConfig) -> SshTarget:
    """Where to connect, from the [connection] section."""
    c = cfg.connection
    return SshTarget(
        host=c.host,
        user=c.user,
        port=c.port,
        identity_files=(str(Path(c.identity_file).expanduser()),) if c.identity_file else (),
        known_hosts=str(Path(c.known_hosts).expanduser()) if c.known_hosts else None,
        ssh_config=(str(Path(c.ssh_config).expanduser()),) if c.ssh_config else None,
        proxy_jump=c.proxy_jump,
    )


ConfigChange = Literal["none", "settings", "target"]


def config_change(old: rv_config.RvConfig, new: rv_config.RvConfig) -> ConfigChange:
    """What an edit of the config file means for a handle made from `old`: nothing, new
    settings for the same handle, or another cluster (host, user, port, keys), so another
    handle with a connection of its own."""
    if ssh_target(old) != ssh_target(new):
        return "target"
    return "none" if old == new else "settings"


class Cluster:
    """A configured cluster: its config and its one shared SSH connection."""

    _registry: ClassVar[dict[SshTarget, Cluster]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()
    # Every face asks for its handle on every call (the server once per proxied
    # request): the file is parsed again only when its text changed.
    _files: ClassVar[rv_config.ConfigFiles] = rv_config.ConfigFiles()

    def __init__(self, cfg: rv_config.RvConfig, *, source: str | None = None) -> None:
        self.config = cfg
        self.source = source
        self.target = ssh_target(cfg)
        self.connection = Connection.for_target(self.target)
        self._user: str | None = None
        self._poller: Poller | None = None
        self._forwards: Forwards | None = None

    @classmethod
    def from_config(cls, path: str | None = None) -> Cluster:
        """The handle for the config at `path` ($RV_CONFIG, ~/.rv/config.toml); reused.

        An edited file takes effect on the next call: new settings replace the handle's
        config; another host, user or port gets a handle of its own (the old one stays
        for whatever holds it, such as a running kernel's tunnel)."""
        p = rv_config.config_path(path)
        source = str(p)
        with cls._registry_lock:
            cfg, before = cls._files.read(p)
            change = "none" if before is None else config_change(before, cfg)
            target = ssh_target(cfg)
            handle = cls._registry.get(target)
            if handle is None:
                handle = cls._registry[target] = cls(cfg, source=source)
                if change == "target":
                    _log.info(
                        "rv config %s now names %s: a new cluster handle",
                        source,
                        cfg.connection.host,
                    )
            elif change != "none" and handle.source == source and handle.config != cfg:
                # A handle made from another file naming the same cluster keeps its own.
                _log.info(
                    "rv config %s changed (%s): the handle for %s uses it now",
                    source,
                    ", ".join(rv_config.changed_sections(handle.config, cfg)),
                    handle.host,
                )
                handle.config = cfg
            return handle

    @property
    def poller(self) -> Poller:
        """The one poller of this cluster that every panel shares."""
        with self._registry_lock:
            if self._poller is None:
                self._poller = Poller(self)
            return self._poller

    @property
    def forwards(self) -> Forwards:
        """Ports of your running jobs, forwarded through this cluster's connection."""
        with self._registry_lock:
            if self._forwards is None:
                self._forwards = Forwards(self.connection, self.ajobs)
            return self._forwards

    @property
    def host(self) -> str:
        """The login host (or alias) from the config."""
        return self.config.connection.host

    # -- core (async) ---------------------------------------------------------------

    async def auser(self) -> str:
        """The user name on the cluster (from the config, else asked once)."""
        if self._user is None:
            self._user = (
                self.config.connection.user or (await self.arun(WHOAMI, retry=True)).strip()
            )
        return self._user

    async def arun(
        self, command: str, *, stdin: str | None = None, timeout: float = 60, retry: bool = False
    ) -> str:
        """Run one command on the login node; its stdout (CommandFailed on non-zero exit).

        A drop mid-command is ConnectionLost unless `retry` (only for reads: it runs again).
        """
        done = await self.connection.run(command, stdin=stdin, timeout=timeout, retry=retry)
        return done.stdout

    async def astate(self) -> ClusterState:
        """Read the whole cluster state in one SSH round trip."""
        results = await self.connection.batch(state_commands(), parallel=True, retry=True)
        return self.state_from(results)

    def state_from(
        self, results: Sequence[Completed], only: Collection[str] | None = None
    ) -> ClusterState:
        """The state from the results of `state_commands(only)` (run in any batch of the
        caller's)."""
        return assemble(results, host=self.host, user=self.config.connection.user, only=only)

    async def ajobs(self, *, all_users: bool = False) -> list[slurm.Job]:
        """Your jobs (or everyone's) as squeue shows them now."""
        cmd = slurm.squeue.command(everyone=all_users)
        return list(slurm.parse_squeue(await self.arun(cmd, retry=True)))

    async def afinal_states(self, job_ids: Sequence[str]) -> dict[str, str]:
        """How these jobs of yours ended as accounting has them ("TIMEOUT", "CANCELLED by
        1001"); a job it has no record of yet (it lags the controller by seconds), or
        another user's (sacct shows them where PrivateData allows), is left out."""
        cmd = slurm.sacct.command(list(job_ids), user=await self.auser())
        out = await self.arun(cmd, retry=True)
        return slurm.sacct.final_states(slurm.parse_sacct(out))

    async def acancel(self, job_ids: Sequence[str] = (), *, every: bool = False) -> list[str]:
        """Cancel some of your own jobs (or all of them); returns the ids cancelled.

        Ids are checked against your own queue first, so a typo or someone else's job
        is an error naming it, and nothing else is touched.
        """
        mine = {j.job_id for j in await self.ajobs()}
        targets = sorted(mine) if every else list(dict.fromkeys(job_ids))
        unknown = [j for j in targets if j not in mine]
        if unknown:
            raise UnknownJob(
                f"Not among your queued or running jobs: {', '.join(unknown)}.",
                hint="%rv_ps lists them; finished jobs need no cancelling.",
            )
        if targets:
            await self.arun(slurm.scancel.command(targets))
            self.poller.poke()  # panels (of every process) show it gone without a back-off
            from rv_jupyter.jobs import envfiles

            # A job cancelled before it ran leaves the env file it would have read.
            env_dir = RemotePaths(await self.auser()).env
            await envfiles.sweep(self.connection, env_dir, gone=targets)
        return targets

    async def alog(self, job_id: str, *, err: bool = False, lines: int = 200) -> str:
        """The last lines of a job's rv log (`.rv/logs/<name>-<id>.out|err`)."""
        path = await self._log_path(job_id, err)
        done = await self.connection.run(
            f"tail -n {int(lines)} -- {shlex.quote(path)}", check=False, retry=True
        )
        if done.exit_status != 0:
            raise RequestError(
                f"No rv log for job {job_id} at {path}.",
                hint="Only jobs submitted by rv-jupyter write there; see the job's own --output.",
            )
        return done.stdout

    async def afollow(
        self, job_id: str, on_output: Callable[[str, bool], None], *, err: bool = False
    ) -> None:
        """Stream a job's rv log as it grows, until the job leaves the queue."""
        path = shlex.quote(await self._log_path(job_id, err))
        alive = slurm.squeue.listed([job_id])
        # Print what the log grew by every half second; ask Slurm every 2 s whether the
        # job is still there. The size is read after Slurm says it has gone, so the end
        # of the log is always printed, however loaded the machine (tail -F's timing was
        # not, and it needs inotify).
        script = (
            "n=0; i=0; while :; do "
            f"if [ $((i % 4)) -eq 0 ]; then alive=$({alive}); fi; "
            f"size=$(stat -c %s -- {path} 2>/dev/null || echo 0); "
            f'if [ "$size" -gt "$n" ]; then tail -c +$((n + 1)) -- {path} | head -c $((size - n)); '
            'n=$size; fi; [ -n "$alive" ] || break; i=$((i + 1)); sleep 0.5; done'
        )
        await self.connection.stream(f"sh -c {shlex.quote(script)}", on_output)

    async def _log_path(self, job_id: str, err: bool) -> str:
        paths = RemotePaths(await self.auser())
        ext = "err" if err else "out"
        # A queued or running job's name is certain. A job that has ended is found by its
        # id among the logs instead: accounting may hold only a placeholder record for it
        # for a while (named "allocation", no partition), and ids wrap, so take the newest.
        q, found = await self.connection.batch(
            [
                slurm.squeue.command(job_ids=[job_id]),
                f"ls -t -- {shlex.quote(paths.logs)}/*-{shlex.quote(f'{job_id}.{ext}')} "
                "2>/dev/null | head -n 1",
            ],
            retry=True,
        )
        live = slurm.parse_squeue(q.stdout) if q.exit_status == 0 else []
        if live:
            return f"{paths.logs}/{live[0].name}-{job_id}.{ext}"
        if found.stdout.strip():
            return found.stdout.strip().splitlines()[0]
        raise RequestError(
            f"No job {job_id} is queued or running, and {paths.logs} holds no log of it.",
            hint="%rv_ps lists your jobs. rv keeps the logs of the jobs it submits there; "
            "others are where their sbatch --output said.",
        )

    async def aexec(self, command: str, *, timeout: float = 120) -> Completed:
        """Run the user's own shell command on the login node; any exit status is returned."""
        return await self.connection.run(command, timeout=timeout, check=False, retry=False)

    async def aclose(self) -> None:
        """Close the SSH connection (others sharing it will reconnect on next use)."""
        await self.connection.close()

    # -- sync facade ----------------------------------------------------------------

    def state(self) -> ClusterState:
        """Read the whole cluster state in one SSH round trip (blocking)."""
        return run_sync(self.astate())

    def run(
        self, command: str, *, stdin: str | None = None, timeout: float = 60, retry: bool = False
    ) -> str:
        """Run one command on the login node (blocking); its stdout.

        Never run twice: a drop mid-command is ConnectionLost, unless `retry=True` (say so
        only for a command that may run twice, such as a read)."""
        return run_sync(self.arun(command, stdin=stdin, timeout=timeout, retry=retry))

    def jobs(self, *, all_users: bool = False) -> list[slurm.Job]:
        """Your jobs as squeue shows them now (blocking)."""
        return run_sync(self.ajobs(all_users=all_users))

    def cancel(self, job_ids: Sequence[str] = (), *, every: bool = False) -> list[str]:
        """Cancel some of your own jobs, or all of them (blocking)."""
        return run_sync(self.acancel(job_ids, every=every))

    def log(self, job_id: str, *, err: bool = False, lines: int = 200) -> str:
        """The last lines of a job's rv log (blocking)."""
        return run_sync(self.alog(job_id, err=err, lines=lines))

    def exec(self, command: str, *, timeout: float = 120) -> Completed:
        """Run a shell command on the login node (blocking)."""
        return run_sync(self.aexec(command, timeout=timeout))

    def close(self) -> None:
        """Close the SSH connection (blocking)."""
        run_sync(self.aclose())
