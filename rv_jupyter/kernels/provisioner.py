"""A jupyter_client kernel provisioner that runs the kernel inside a Slurm job.

Jupyter on the laptop sees an ordinary kernel on 127.0.0.1; the ports lead, through the
tunnel (tunnel.py) over the one SSH connection and on into the node, to an ipykernel on
the job's node that listens on that node's loopback only. The kernel's HMAC key is made here by
jupyter_client and reaches the node only inside a 0600 file in a 0700 directory, which
the agent deletes as soon as the kernel has read it: never a command line, a batch
script or a log.

Kernelspec metadata (kernel_provisioner.config) says what to run in: either a request
for the fan-out allocator (gpus, gpu_type, time, mem) or `job_id` of a running job of
yours to attach to. A kernel that allocated its job cancels it on shutdown; an attached
one leaves the job running. From before its first sbatch, the start is in the kernel
registry (registry.py, pending.py), so a server killed meanwhile leaves nothing that the
next one cannot find.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shlex
import signal
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from traitlets import Integer, Unicode

from rv_jupyter.cluster import background
from rv_jupyter.errors import KernelError, RvError, UnknownJob
from rv_jupyter.kernels import registry
from rv_jupyter.kernels.node import alaunch_kernel, aupload_agent, srun_python
from rv_jupyter.kernels.registry import LAUNCHING, RUNNING
from rv_jupyter.slurm import expand_hostlist, job_state, scancel, squeue
from rv_jupyter.telemetry.rules import END_HINTS

if TYPE_CHECKING:
    from rv_jupyter.cluster.handle import Cluster
    from rv_jupyter.kernels.tunnel import Tunnel

CHANNELS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
SLURM_CHECK_S = 60  # how often a running kernel's job is looked up (squeue is an RPC)


# Every rv kernel of this process, for the REST API and the server's shutdown hook.
LIVE: weakref.WeakValueDictionary[str, RvProvisioner] = weakref.WeakValueDictionary()


def cancel_pending(kernel_id: str) -> bool:
    """Cancel the start of a kernel still waiting for its job; True if it was waiting."""
    prov = LIVE.get(kernel_id)
    return bool(prov and prov.cancel_start())


class RvProvisioner(KernelProvisionerBase):
    """Starts the kernel in a Slurm job (allocated, or one you hold) on Rivanna."""

    gpus = Integer(1, config=True, help="GPUs to allocate")
    gpu_type = Unicode("", config=True, help="GPU type or 'any' (default: the rv config's)")
    time = Unicode("", config=True, help="walltime, e.g. 4h (default: the rv config's)")
    mem = Unicode("", config=True, help="memory per node, e.g. 64G")
    job_id = Unicode("", config=True, help="attach to this running job instead of allocating")
    rv_config = Unicode("", config=True, help="rv config file (default: $RV_CONFIG or ~/.rv)")
    name = Unicode(
        "", config=True,
        help="job name when allocating (default: rv-k-<notebook>, else rv-k-<request>)",
    )  # fmt: skip

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job: str | None = None
        self.node: str | None = None
        self.allocated = False
        self.step: str | None = None
        self.remote_ports: dict[str, int] = {}
        self.launches = 0
        self.tunnel: Tunnel | None = None
        self._waiting: dict[str, Any] = {}  # strategy key -> its latest fan-out Event
        self.ended: str | None = None  # why the kernel is gone, once it is
        self.ended_state: str | None = None  # Slurm's final state, once its job ended
        self.status = "not started"
        self._remote_id: str | None = None
        self._checked = 0.0
        self._start: concurrent.futures.Future[None] | None = None
        self.pending = False
        self._cancelled_by_user = False
        self._settled = threading.Event()  # set when a start attempt has cleaned up
        self._notebook: str | None = None  # the notebook's path, when a session starts it
        self._tag: str | None = None  # the Slurm comment of the jobs it allocated
        LIVE[self.kernel_id] = self
        self._asked_slurm = time.monotonic()

    @property
    def has_process(self) -> bool:
        return self._remote_id is not None and self.ended is None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = await super().pre_launch(**kwargs)
        # jupyter_server's sessions put the notebook's path there (the job is named after it).
        self._notebook = kwargs["env"].get("JPY_SESSION_NAME") or self._notebook
        km: Any = self.parent
        if self.tunnel is None:
            from rv_jupyter.kernels.tunnel import Tunnel

            self.tunnel = Tunnel(self._cluster().connection)
            wanted = {c: int(getattr(km, c) or 0) for c in CHANNELS}
            bound = await background.on_loop(self.tunnel.alisten(wanted))
            km.transport, km.ip = "tcp", "127.0.0.1"
            for channel, port in bound.items():
                setattr(km, channel, port)
        km.write_connection_file()
        kwargs["cmd"] = list(self.kernel_spec.argv)
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        km: Any = self.parent
        key = km.session.key.decode() if isinstance(km.session.key, bytes) else km.session.key
        # No timeout: a queued job is a state, not a failure. cancel_start() ends it.
        self._settled.clear()
        self._start = asyncio.run_coroutine_threadsafe(
            self._settle(self._alaunch(key, km.session.signature_scheme)), background.loop()
        )
        start = self._start
        try:
            await asyncio.wrap_future(start)
        except asyncio.CancelledError:
            # Ours (cancel_start) or the caller's (the server shutting down): either way
            # the allocator cancels what it submitted as it unwinds. Wait for that, so
            # "cancelled" means nothing is left queued.
            start.cancel()
            await asyncio.get_running_loop().run_in_executor(None, self._settled.wait, 60)
            self.status = "start cancelled"
            if not self._cancelled_by_user:
                raise
            raise RvError(
                "The kernel's start was cancelled; no job of it is left queued.",
                hint="Start the kernel again when you want it.",
            ) from None
        finally:
            self._start, self.pending = None, False
        self.remember()
        return km.get_connection_info()

    def remember(self, phase: str = RUNNING) -> None:
        """Write what reattaching needs to the registry, this process as its owner."""
        km: Any = self.parent
        conn = dict(km.get_connection_info(session=False))
        if isinstance(conn.get("key"), bytes):
            conn["key"] = conn["key"].decode()
        registry.remember(self.kernel_id, {
            "kernel_id": self.kernel_id, "kernel_name": km.kernel_name,
            "connection_info": conn, "rv_config": self.rv_config, "launches": self.launches,
            "rv": self._rv_info(), "phase": phase, "tag": self._tag,
        })  # fmt: skip

    def _rv_info(self) -> dict[str, Any]:
        """Where the kernel is: what get_provisioner_info and the memory file both keep."""
        return {
            "job": self.job, "node": self.node, "allocated": self.allocated, "step": self.step,
            "remote_ports": self.remote_ports, "remote_id": self._remote_id,
        }  # fmt: skip

    async def areattach(self, data: dict[str, Any]) -> None:
        """Take over a kernel another server process started (see kernels/adopt.py)."""
        await self.load_provisioner_info(
            {"kernel_id": data["kernel_id"], "connection_info": data["connection_info"],
             "rv": data["rv"]}
        )  # fmt: skip
        self.launches = int(data.get("launches") or 1)
        self._tag = data.get("tag")
        await background.on_loop(self._areattach(data["connection_info"]))

    async def _areattach(self, conn: dict[str, Any]) -> None:
        from rv_jupyter.kernels.tunnel import Tunnel

        cluster = self._cluster()
        await self._acheck(ask_slurm=True)
        if self.ended is not None:
            raise KernelError(f"Kernel {self.kernel_id}: {self.ended}.")
        self.tunnel = Tunnel(cluster.connection)
        await self.tunnel.alisten({c: int(conn[c]) for c in CHANNELS})
        agent = await aupload_agent(cluster, await self._paths(cluster))
        self._relay_to_kernel(self._srun(cluster.config.kernels.python), agent)
        self.status = f"running on {self.node} in job {self.job} (reattached)"

    async def adetach(self) -> None:
        """Let go of the kernel without stopping it (the server is stopping)."""
        if self.tunnel is not None:
            await background.on_loop(self.tunnel.aclose())
            self.tunnel = None

    async def _settle(self, coro: Any) -> None:
        try:
            await coro
        finally:
            self._settled.set()

    def cancel_start(self) -> bool:
        """Stop waiting for the job (what it submitted is cancelled); True if it was."""
        start = self._start
        if start is None or start.done() or not self.pending:
            return False
        self._cancelled_by_user = True
        start.cancel()
        return True

    def info(self) -> dict[str, Any]:
        """What the REST API and the Lab extension show of this kernel."""
        return {
            "kernel_id": self.kernel_id, "display_name": self.kernel_spec.display_name,
            "status": self.status, "pending": self.pending, "job": self.job,
            "node": self.node, "allocated": self.allocated, "ended": self.ended,
            "transport": self.tunnel.transport if self.tunnel else "none",
            "strategies": [e.row() for e in self._waiting.values()] if self.pending else [],
            "ended_state": self.ended_state, "hint": END_HINTS.get(self.ended_state or ""),
        }  # fmt: skip

    def reallocate(self) -> bool:
        """After its job ended, the next (re)start allocates anew with the same options."""
        if self.ended_state is None or self.pending:
            return False
        self.job = self.node = None
        self.allocated, self.ended_state = False, None
        return True

    def recheck(self) -> None:
        """Ask Slurm about the job at the next poll: the server saw it leave the queue."""
        self._asked_slurm = 0.0

    async def poll(self) -> int | None:
        # Jupyter polls every few seconds: look at the kernel's exit file then (a file
        # read on the login node), and ask Slurm about the job only now and then.
        now = time.monotonic()
        if self.ended is None and self._remote_id is not None and now - self._checked >= 2:
            self._checked = now
            ask_slurm = now - self._asked_slurm >= SLURM_CHECK_S
            if ask_slurm:
                self._asked_slurm = now
            try:
                await background.on_loop(self._acheck(ask_slurm))
            except RvError as err:  # unreachable for now is not dead
                self.log.debug("rv-jupyter: kernel check failed: %s", err)
        return None if self.ended is None else 1

    async def wait(self) -> int | None:
        while await self.poll() is None and self._remote_id is not None:
            await asyncio.sleep(0.5)
        return 0 if self.ended is None else 1

    async def send_signal(self, signum: int) -> None:
        if signum == 0:
            return
        await background.on_loop(self._asignal(signal.Signals(signum).name.removeprefix("SIG")))

    async def kill(self, restart: bool = False) -> None:
        await background.on_loop(self._asignal("KILL"))

    async def terminate(self, restart: bool = False) -> None:
        await background.on_loop(self._asignal("TERM"))

    async def cleanup(self, restart: bool = False) -> None:
        await background.on_loop(self._acleanup(restart))

    async def get_provisioner_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await super().get_provisioner_info()
        info["rv"] = self._rv_info()
        return info

    async def load_provisioner_info(self, provisioner_info: dict[str, Any]) -> None:
        await super().load_provisioner_info(provisioner_info)
        rv = provisioner_info.get("rv") or {}
        self.job, self.node = rv.get("job"), rv.get("node")
        self.allocated, self.step = bool(rv.get("allocated")), rv.get("step")
        self.remote_ports = dict(rv.get("remote_ports") or {})
        self._remote_id = rv.get("remote_id")

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        return max(recommended, 10.0)  # a round trip or two through SSH and srun

    def get_stable_start_time(self, recommended: float = 10.0) -> float:
        return max(recommended, 30.0)

    # -- the work, on the background loop --------------------------------------------------

    def _cluster(self) -> Cluster:
        from rv_jupyter.cluster.handle import Cluster

        return Cluster.from_config(self.rv_config or None)

    async def _alaunch(self, key: str, scheme: str) -> None:
        cluster = self._cluster()
        if self.job is None:
            await self._ajob(cluster)
        else:  # a restart: only inside the same job, and only while it runs
            try:
                await cluster.forwards.anode(self.job, fresh=True)
            except UnknownJob:
                state = await self._final_state(cluster)
                self.ended = f"job {self.job} ended: {state}"
                raise KernelError(
                    f"Job {self.job} has ended ({state}); this kernel cannot restart in it.",
                    hint="Pick the Rivanna kernel again (Kernel > Change Kernel) for a new job.",
                ) from None
        assert self.job and self.node and self.tunnel
        paths = await self._paths(cluster)
        agent = await aupload_agent(cluster, paths)
        self.launches += 1
        self._remote_id = f"{self.kernel_id}-{self.launches}"
        conn = {"key": key, "signature_scheme": scheme, "transport": "tcp",
                "ip": "127.0.0.1", **{c: 0 for c in CHANNELS}}  # fmt: skip
        python = cluster.config.kernels.python
        step = self._srun(python)
        # Recorded before it starts: a server killed from here on leaves a kernel the next
        # one can take back (or, if it never started, a job it can cancel).
        self.remember(LAUNCHING)
        self.status = "starting the kernel on " + self.node
        try:
            info = await alaunch_kernel(
                cluster, step=step, agent=agent, directory=paths.kernels,
                remote_id=self._remote_id, python=python, connection=conn,
                warn_s=cluster.config.kernels.warn_before_end_min * 60,
                where=f"{self.node} (job {self.job})",
            )  # fmt: skip
        except KernelError as err:
            self.ended = err.context.get("ended") or self.ended
            raise
        self.remote_ports = {c: int(p) for c, p in info["ports"].items()}
        self.step = info.get("step")
        self.ended = None
        self._relay_to_kernel(step, agent)
        self.status = f"running on {self.node} in job {self.job}"

    def _relay_to_kernel(self, step: str, agent: str) -> None:
        """Point the tunnel at the kernel's ports on the node (SSH to the node, or the
        agent's relay inside the job when that is not possible)."""
        assert self.tunnel is not None
        ports = " ".join(str(self.remote_ports[c]) for c in CHANNELS)
        self.tunnel.target(f"{step} -u {agent} relay {ports}", self.remote_ports, self.node)

    async def _paths(self, cluster: Cluster) -> Any:
        from rv_jupyter.facts import RemotePaths

        return RemotePaths(await cluster.auser())

    def _srun(self, python: str) -> str:
        assert self.job and self.node
        return srun_python(self.job, self.node, python)

    async def _ajob(self, cluster: Cluster) -> None:
        if self.job_id:
            self.node = await cluster.forwards.anode(self.job_id, fresh=True)
            self.job, self.allocated = self.job_id, False
            return
        from rv_jupyter.allocator.request import Request
        from rv_jupyter.kernels.pending import PendingStart
        from rv_jupyter.kernels.spec import job_name

        req = Request.from_config(
            cluster.config.defaults, gpus=self.gpus, gpu_type=self.gpu_type, time=self.time,
            mem=self.mem, name=self.name or "rv-kernel",
        )  # fmt: skip
        if not self.name:  # made of plain words only: no need to validate it again
            name = job_name(self._notebook, gpus=req.gpus, gpu_type=req.gpu_type)
            req = req.model_copy(update={"name": name})
        km: Any = self.parent
        start = PendingStart(self.kernel_id, km.kernel_name, self.rv_config, req.tag)
        self._tag = req.tag
        self.status, self.pending = "waiting for a GPU", True
        alloc = await start.aallocate(cluster, req, self._on_event, self.log)
        self.pending = False
        self.job, self.allocated = alloc.job_id, True
        self.node = expand_hostlist(alloc.node_list)[0]

    def _on_event(self, event: Any) -> None:
        self._waiting[event.strategy.key] = event
        status = "waiting for a GPU: " + "; ".join(e.line() for e in self._waiting.values())
        if status != self.status:  # the fan-out reports every poll; log what changed
            self.status = status
            self.log.info("rv-jupyter kernel %s: %s", self.kernel_id, status)

    async def _acheck(self, ask_slurm: bool = True) -> None:
        if self._remote_id is None or self.ended is not None:
            return
        cluster = self._cluster()
        paths = await self._paths(cluster)
        file = shlex.quote(f"{paths.kernels}/{self._remote_id}")
        state = squeue.state_of(self.job or "0") if ask_slurm else "echo RUNNING"
        out = await cluster.arun(
            f"cat {file}.exit 2>/dev/null; echo; " + state
            + "; true", retry=True,
        )  # fmt: skip
        lines = [ln for ln in out.splitlines() if ln.strip()]
        running = any(ln.strip() in ("RUNNING", "COMPLETING") for ln in lines)
        exited = bool(lines) and lines[0].startswith("{")
        if running and not exited:
            return
        if running:
            self.ended = "the kernel exited"
        else:
            # squeue keeps an ended job's state for a few minutes, before accounting has it.
            said = [w.strip() for w in lines if job_state(w.strip())[0].finished]
            state = await self._final_state(cluster, said[0] if said else "")
            self.ended = f"job {self.job} ended: {state}"
            self.log.warning("rv-jupyter kernel %s: %s", self.kernel_id, self.ended)

    async def _final_state(self, cluster: Cluster, known: str = "") -> str:
        """How Slurm says the job ended (CANCELLED by 1001, TIMEOUT, PREEMPTED, ...)."""
        job = self.job or "0"
        try:
            state = known or (await cluster.afinal_states([job])).get(job, "")
        except RvError:
            state = ""
        self.ended_state = state.split()[0] if state else "UNKNOWN"  # the word hints key on
        cluster.poller.poke()  # the sidebar and notifications say so at the next read
        return state or "state unknown (no accounting record yet)"

    async def _asignal(self, name: str) -> None:
        if not self.job or self.step is None:
            return
        cluster = self._cluster()
        target = scancel.command([f"{self.job}.{self.step}"], signal=name, quiet=True)
        try:
            await cluster.arun(f"{target}; true", timeout=30)
        except RvError as err:
            self.log.warning("rv-jupyter: could not signal the kernel: %s", err)
        if name in ("KILL", "TERM"):
            self.ended = f"stopped ({name})"

    async def _acleanup(self, restart: bool) -> None:
        cluster = self._cluster()
        if self._remote_id:
            paths = await self._paths(cluster)
            file = shlex.quote(f"{paths.kernels}/{self._remote_id}")
            await cluster.arun(
                f"rm -f {file}.json {file}.ports {file}.exit {file}.log {file}.startup.py; true"
            )
        if restart:
            return
        if self.tunnel is not None:
            await self.tunnel.aclose()
            self.tunnel = None
        if self.allocated and self.job:
            await cluster.arun(f"{scancel.command([self.job])}; true")
        self._remote_id = None
        registry.forget(self.kernel_id)
