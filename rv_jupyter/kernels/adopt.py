"""Reattaching a restarted Jupyter server to the remote kernels it had.

A remote kernel lives in its Slurm job, not in the server process: when the server stops,
rv kernels are let go (their tunnels closed, their jobs left running) instead of shut
down, and when a server starts, it takes back every kernel this machine remembers whose
job still runs, under the same kernel id, so notebooks reconnect with their state intact.
Kernels whose job ended are forgotten, with Slurm's final state in the server's log.

A kernel whose server was killed while it waited for its job has no notebook left to
serve: its jobs are cancelled (found by their tag, pending.py), and the log says which.
Only records of dead processes are touched: what a second running server of the same
user (or any live process) started stays its own.
"""

from __future__ import annotations

import os
from typing import Any

from rv_jupyter.cluster import background
from rv_jupyter.errors import ConfigError, RvError, SshError
from rv_jupyter.kernels import registry
from rv_jupyter.kernels.provisioner import RvProvisioner
from rv_jupyter.kernels.registry import LAUNCHING, RUNNING


async def adopt_all(mkm: Any, log: Any) -> list[str]:
    """Take back the remembered kernels that still run and cancel what dead servers left
    of the others; the ids taken back."""
    adopted = []
    for data in registry.remembered():
        kernel_id = data["kernel_id"]
        if kernel_id in mkm:
            continue
        pid = (data.get("owner") or {}).get("pid", "?")
        if registry.owner_alive(data):
            log.info("rv-jupyter: kernel %s belongs to another running process (pid %s); "
                     "leaving it to that one", kernel_id, pid)  # fmt: skip
            continue
        try:
            if data.get("phase") == LAUNCHING:
                from rv_jupyter.kernels.pending import alaunched

                launched = await background.on_loop(alaunched(_cluster_of(data), data))
                data = launched or data
            if data.get("phase", RUNNING) != RUNNING:
                what = await _abandon(data)
                log.warning("rv-jupyter: kernel %s was still starting when the process that "
                            "started it (pid %s) ended; %s", kernel_id, pid, what)  # fmt: skip
                continue
            await adopt(mkm, data)
        except (SshError, ConfigError) as exc:  # unreachable now: keep it for next time
            log.warning("rv-jupyter: cannot reattach kernel %s now: %s", kernel_id, exc.message)
            continue
        except RvError as err:  # its job ended, or its kernel did
            what = await _abandon(data)
            log.warning("rv-jupyter: not reattaching kernel %s: %s; %s", kernel_id,
                        err.message, what)  # fmt: skip
            continue
        except Exception as exc:  # a kernelspec removed since: keep the record
            log.warning("rv-jupyter: cannot reattach kernel %s now: %s", kernel_id, exc)
            continue
        log.info("rv-jupyter: reattached kernel %s (job %s)", kernel_id, data["rv"]["job"])
        adopted.append(kernel_id)
    registry.sweep_owners()
    return adopted


async def _abandon(data: dict[str, Any]) -> str:
    """Cancel what is left of a kernel nobody will use; says what was done, for the log."""
    from rv_jupyter.kernels.pending import acancel_left

    try:
        cancelled = await background.on_loop(acancel_left(_cluster_of(data), data))
    except RvError as err:
        return f"could not cancel its jobs now ({err.message}); will try at the next start"
    registry.forget(data["kernel_id"])
    if not cancelled:
        return "no job of it was left to cancel"
    return f"cancelled its job{'s' if len(cancelled) > 1 else ''} {', '.join(cancelled)}"


async def adopt(mkm: Any, data: dict[str, Any]) -> Any:
    """One kernel back into the server's MultiKernelManager, as if it had started it."""
    kernel_id = data["kernel_id"]
    km = mkm.kernel_manager_factory(
        connection_file=os.path.join(mkm.connection_dir, f"kernel-{kernel_id}.json"),
        parent=mkm, log=mkm.log, kernel_name=data["kernel_name"], owns_kernel=True,
    )  # fmt: skip
    km.kernel_id = kernel_id
    config = km.kernel_spec.metadata.get("kernel_provisioner", {}).get("config", {})
    prov = RvProvisioner(kernel_id=kernel_id, kernel_spec=km.kernel_spec, parent=km, **config)
    await prov.areattach(data)
    km.load_connection_info(data["connection_info"])
    km.provisioner = prov
    km.write_connection_file()
    prov.remember()  # this process owns it now
    await km.post_start_kernel()  # control socket, restarter
    ready = km.ready
    if not ready.done():
        ready.set_result(None)
    mkm._kernels[kernel_id] = km
    mkm._kernel_connections[kernel_id] = 0
    mkm._kernel_ports[kernel_id] = km.ports
    mkm.start_watching_activity(kernel_id)
    return km


async def let_go_all(mkm: Any, log: Any) -> list[str]:
    """Before the server's own shutdown of every kernel: detach the rv kernels that run
    instead, and cancel the starts still waiting for a job."""
    let_go = []
    for kernel_id in list(mkm.list_kernel_ids()):
        km = mkm.get_kernel(kernel_id)
        prov = getattr(km, "provisioner", None)
        if not isinstance(prov, RvProvisioner):
            continue
        # jupyter_client's shutdown_all awaits a pending kernel's start first, which for a
        # queued job would outlast the server: cancel it (and what it submitted) instead.
        if prov.cancel_start():
            log.info("rv-jupyter: kernel %s was waiting for a GPU; its start is cancelled",
                     kernel_id)  # fmt: skip
            continue
        if not prov.has_process or prov.pending:  # a failed start has nothing to keep
            continue
        await prov.adetach()
        km.stop_restarter()
        mkm.remove_kernel(kernel_id)
        log.info("rv-jupyter: kernel %s keeps running in job %s", kernel_id, prov.job)
        let_go.append(kernel_id)
    return let_go


def _cluster_of(data: dict[str, Any]) -> Any:
    from rv_jupyter.cluster.handle import Cluster

    return Cluster.from_config(data.get("rv_config") or None)
