"""One sampler per job: every GPU of every node, over one long-lived channel per node.

Each node runs one job step (`srun --jobid --overlap -w <node>`, so it sees exactly the
job's GPUs, as nvidia-smi inside the job's cgroup does) holding two looping nvidia-smi
processes: GPUs every `interval_s` (`-lms`: NVML is opened once, not once a sample) and
the compute processes every 5 s. Their lines come back on the one exec channel; nothing
new is exec'd per sample. The step reads its stdin and ends both loops when it closes, so
closing the channel (the last watcher leaving, the laptop going away) leaves no
nvidia-smi behind on the node. A channel that drops is reopened with back-off while
someone watches, and the time it was down is kept as a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rv_jupyter.errors import RvError, UnknownJob
from rv_jupyter.remote.lines import read_lines, read_rest
from rv_jupyter.slurm import srun
from rv_jupyter.slurm.hostlist import expand_hostlist
from rv_jupyter.slurm.states import JobState
from rv_jupyter.telemetry.nvidia_smi import GpuRow, parse_compute_apps, parse_query_gpu

if TYPE_CHECKING:
    import pandas as pd

    from rv_jupyter.cluster.handle import Cluster

log = logging.getLogger(__name__)

GPU_FIELDS = (
    "timestamp", "index", "uuid", "name", "utilization.gpu", "utilization.memory",
    "memory.used", "memory.total", "power.draw", "power.limit", "temperature.gpu", "clocks.sm",
)  # fmt: skip
APP_FIELDS = ("gpu_uuid", "pid", "process_name", "used_memory")
APPS_EVERY_S = 5
_APP_LINE = re.compile(r"^(?:GPU|MIG)-")
_BACKOFF_S = (1, 2, 5, 10, 30)


def step_command(job_id: str, node: str, interval_s: float) -> str:
    """The job step that samples `node`'s GPUs until its stdin closes."""
    gpu = (
        f"nvidia-smi --query-gpu={','.join(GPU_FIELDS)} --format=csv,noheader,nounits "
        f"-lms {max(100, int(interval_s * 1000))}"
    )
    apps = (
        f"nvidia-smi --query-compute-apps={','.join(APP_FIELDS)} --format=csv,noheader,nounits "
        f"-l {APPS_EVERY_S}"
    )
    # `read` returns when the channel's stdin closes: then both loops go.
    body = f"{gpu} & g=$!; {apps} & a=$!; read _ || :; kill $g $a 2>/dev/null; wait"
    return srun.step(job_id, ["sh", "-c", body], node=node)


@dataclass(frozen=True)
class Gap:
    """A node's samples missing from `start` to `end` (None: still missing)."""

    node: str
    start: float
    end: float | None
    reason: str


@dataclass
class _Node:
    name: str
    frames: deque[tuple[float, list[GpuRow]]]
    apps: list[GpuRow] = field(default_factory=list)
    pending: list[GpuRow] = field(default_factory=list)  # rows of the sample being read
    gpus: int = 0  # GPUs of the node, learnt from its first whole sample
    task: asyncio.Task[None] | None = None


class JobSampler:
    """GPU samples of one job's nodes, kept for `history_s`; runs while watched."""

    def __init__(
        self, cluster: Cluster, job_id: str, *, interval_s: float = 1.0, history_s: float = 1800
    ) -> None:
        self.cluster, self.job_id = cluster, job_id
        self.interval_s, self.history_s = interval_s, history_s
        self.nodes: dict[str, _Node] = {}
        self.gaps: list[Gap] = []
        self.channels_opened = 0
        self._watchers = 0
        self._lock = asyncio.Lock()
        self._lease: asyncio.TimerHandle | None = None
        self._subscribers: list[Callable[[], None]] = []

    # -- watching -------------------------------------------------------------------

    async def awatch(self) -> None:
        """Count one more watcher; the first starts the sampling."""
        async with self._lock:
            self._watchers += 1
            if self._watchers == 1:
                try:
                    await self._start()
                except BaseException:
                    self._watchers -= 1  # not watching: the next caller tries afresh
                    raise

    async def aunwatch(self) -> None:
        """One watcher fewer; the last one stops the sampling (the steps end on the nodes)."""
        async with self._lock:
            self._watchers = max(0, self._watchers - 1)
            if self._watchers == 0:
                await self._stop()

    @contextlib.asynccontextmanager
    async def watching(self) -> Any:
        """`async with sampler.watching():` samples while the block runs."""
        await self.awatch()
        try:
            yield self
        finally:
            await self.aunwatch()

    async def alease(self, seconds: float = 60.0) -> None:
        """Watch for `seconds` from now (renewed by each call): for faces that poll, such as
        a REST client, which cannot say when they stop looking."""
        loop = asyncio.get_running_loop()
        if self._lease is None:
            await self.awatch()
        else:
            self._lease.cancel()
        self._lease = loop.call_later(seconds, lambda: asyncio.ensure_future(self._expire()))

    async def _expire(self) -> None:
        self._lease = None
        await self.aunwatch()

    def frames_since(self, t: float) -> list[dict[str, Any]]:
        """Samples newer than `t` (seconds since the epoch), as JSON-able rows."""
        return [
            _jsonable(self._row(n, ft, r))
            for n in list(self.nodes.values())
            # list(): faces read from other threads while the sampler appends.
            for ft, rs in list(n.frames)
            if ft > t
            for r in rs
        ]

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` on the background loop after each new sample or gap (it does not
        count as watching); returns the function that stops the calls."""
        self._subscribers.append(callback)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return stop

    def _changed(self) -> None:
        for callback in list(self._subscribers):
            try:
                callback()
            except Exception:  # a face's bug must not stop the sampling of the others
                log.exception("GPU telemetry subscriber failed")

    @property
    def running(self) -> bool:
        """Some node's channel is being read."""
        return any(n.task is not None and not n.task.done() for n in list(self.nodes.values()))

    # -- reading --------------------------------------------------------------------

    def latest(self) -> pd.DataFrame:
        """The newest sample of every GPU on every node, one row each."""
        import pandas as pd

        # A copy: faces read from their own thread while the loop may add a node.
        rows = [
            self._row(n, t, r)
            for n in list(self.nodes.values())
            if n.frames
            for t, rs in [n.frames[-1]]
            for r in rs
        ]
        return pd.DataFrame(rows, columns=_COLUMNS)

    def history(self) -> pd.DataFrame:
        """Every sample kept (the last `history_s`), one row per GPU per sample."""
        import pandas as pd

        rows = [
            self._row(n, t, r) for n in list(self.nodes.values()) for t, rs in list(n.frames)
            for r in rs
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=_COLUMNS)

    def samples(self, node: str) -> list[tuple[float, list[GpuRow]]]:
        """A node's samples as (time, rows), oldest first."""
        n = self.nodes.get(node)
        return list(n.frames) if n else []

    def _row(self, node: _Node, t: float, r: GpuRow) -> dict[str, Any]:
        uuid = r.text("uuid")
        procs = [a for a in node.apps if a.text("gpu_uuid") == uuid]
        return {
            "time": t, "node": node.name, "gpu": int(r.number("index") or 0), "uuid": uuid,
            "name": r.text("name"), "util_pct": r.number("utilization.gpu"),
            "mem_used_mib": r.number("memory.used"), "mem_total_mib": r.number("memory.total"),
            "power_w": r.number("power.draw"), "power_limit_w": r.number("power.limit"),
            "temp_c": r.number("temperature.gpu"), "sm_mhz": r.number("clocks.sm"),
            "processes": ", ".join(f"{a.text('process_name')}:{int(a.number('pid') or 0)}"
                                   for a in procs),
            "unavailable": {k: v.reason for k, v in r.values.items() if hasattr(v, "reason")},
        }  # fmt: skip

    # -- internals ------------------------------------------------------------------

    async def _start(self) -> None:
        jobs = {j.job_id: j for j in await self.cluster.ajobs()}
        job = jobs.get(self.job_id)
        if job is None or job.state is not JobState.running or not job.node_list:
            raise UnknownJob(
                f"Job {self.job_id} is not one of your running jobs.",
                hint="GPU telemetry needs a running job; %rv_ps lists yours.",
            )
        keep = max(1, int(self.history_s / self.interval_s))
        for name in expand_hostlist(job.node_list):
            node = self.nodes.get(name) or _Node(name, deque(maxlen=keep))
            self.nodes[name] = node
            node.task = asyncio.ensure_future(self._follow(node))

    async def _stop(self) -> None:
        tasks = [n.task for n in self.nodes.values() if n.task is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, RvError):
                await t
        for n in self.nodes.values():
            n.task = None

    async def _follow(self, node: _Node) -> None:
        attempt = 0
        while True:
            started = time.time()
            self.channels_opened += 1
            try:
                reason = await self._read(node)
            except RvError as exc:
                reason = exc.message
            if not await self._still_running():
                return  # the job ended: nothing more to sample, and nothing to mark
            self._flush(node)
            gap = Gap(node.name, time.time(), None, reason)
            self.gaps.append(gap)
            self._changed()
            log.info("GPU sampling of %s (job %s) stopped: %s", node.name, self.job_id, reason)
            attempt = 0 if time.time() - started > 60 else attempt + 1
            await asyncio.sleep(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)])
            self.gaps[self.gaps.index(gap)] = Gap(gap.node, gap.start, time.time(), reason)

    async def _read(self, node: _Node) -> str:
        # stdin stays open: the step ends its loops when it closes (see step_command).
        proc = await self.cluster.connection.open_process(
            step_command(self.job_id, node.name, self.interval_s)
        )
        try:
            async for line in read_lines(proc, what=f"GPU sampling of {node.name}"):
                self._line(node, line, False)
        finally:
            proc.close()
        err = (await read_rest(proc.stderr)).strip()
        return f"the sampling step ended: {err.splitlines()[-1]}" if err else "the step ended"

    async def _still_running(self) -> bool:
        try:
            jobs = {j.job_id: j for j in await self.cluster.ajobs()}
        except RvError:
            return True  # cannot tell: keep trying while watched
        job = jobs.get(self.job_id)
        return job is not None and job.state is JobState.running

    def _line(self, node: _Node, text: str, is_err: bool) -> None:
        line = text.strip()
        if is_err or not line:
            return
        try:
            if _APP_LINE.match(line):
                node.apps = [a for a in node.apps if a.text("gpu_uuid") != line.split(", ")[0]]
                node.apps += parse_compute_apps(line, APP_FIELDS)
                return
            (row,) = parse_query_gpu(line, GPU_FIELDS)
        except (RvError, ValueError):
            log.debug("unreadable nvidia-smi line from %s: %r", node.name, line[:200])
            return
        # A sample is one row per GPU of the node (rows need not come in index order, and
        # their timestamps differ by milliseconds): it is complete when every GPU seen in
        # the last sample is there, or when a GPU repeats.
        if any(r.text("uuid") == row.text("uuid") for r in node.pending):
            self._flush(node)
        node.pending.append(row)
        if node.gpus and len(node.pending) >= node.gpus:
            self._flush(node)

    def _flush(self, node: _Node) -> None:
        if node.pending:
            node.frames.append((time.time(), node.pending))
            node.gpus = max(node.gpus, len(node.pending))
            node.pending = []
            self._changed()


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    # `time` stays whole: clients send it back as `since`.
    return {k: (round(v, 3) if isinstance(v, float) and k != "time" else v)
            for k, v in row.items()}  # fmt: skip


_COLUMNS = [
    "time", "node", "gpu", "uuid", "name", "util_pct", "mem_used_mib", "mem_total_mib",
    "power_w", "power_limit_w", "temp_c", "sm_mhz", "processes", "unavailable",
]  # fmt: skip

_SAMPLERS: dict[tuple[int, str], JobSampler] = {}


def sampler_for(cluster: Cluster, job_id: str) -> JobSampler:
    """The one sampler of `job_id` in this process (shared by every face that watches)."""
    key = (id(cluster), job_id)
    s = _SAMPLERS.get(key)
    if s is None:
        s = _SAMPLERS[key] = JobSampler(cluster, job_id)
    return s


def running_sampler(cluster: Cluster, job_id: str) -> JobSampler | None:
    """`job_id`'s sampler if one is sampling in this process now (none is started)."""
    s = _SAMPLERS.get((id(cluster), job_id))
    return s if s is not None and s.running else None
