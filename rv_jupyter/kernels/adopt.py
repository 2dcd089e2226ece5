"""Reattaching a restarted Jupyter server to the remote kernels it had.

A remote kernel lives in its Slurm job, not in the server process: when the server stops,
rv kernels are let go (their tunnels closed, their jobs left running) instead of shut
down, and when a server starts, it takes back every kernel this machine remembers whose
job still runs, under the same kernel id, so notebooks reconnect with their state intact.
Kernels whose job ended are forgotten, with Slurm's final state in the server's log.
"""

from __future__ import annotations

import os
from typing import Any

from rv_jupyter.errors import RvError
from rv_jupyter.kernels import memory
from rv_jupyter.kernels.provisioner import RvProvisioner


async def adopt_all(mkm: Any, log: Any) -> list[str]:
    """Take back the remembered kernels that still run; their ids."""
    adopted = []
    for data in memory.remembered():
        kernel_id = data["kernel_id"]
        if kernel_id in mkm:
            continue
        try:
            await adopt(mkm, data)
        except RvError as err:
            log.warning("rv-jupyter: not reattaching kernel %s: %s", kernel_id, err.message)
            memory.forget(kernel_id)
            continue
        except Exception as exc:  # a spec removed since, a config gone: keep the file
            log.warning("rv-jupyter: cannot reattach kernel %s now: %s", kernel_id, exc)
            continue
        log.info("rv-jupyter: reattached kernel %s (job %s)", kernel_id, data["rv"]["job"])
        adopted.append(kernel_id)
    return adopted


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
    """Before the server's own shutdown of every kernel: detach the rv kernels instead."""
    let_go = []
    for kernel_id in list(mkm.list_kernel_ids()):
        km = mkm.get_kernel(kernel_id)
        prov = getattr(km, "provisioner", None)
        if not isinstance(prov, RvProvisioner) or prov.ended or prov.pending:
            continue
        await prov.adetach()
        km.stop_restarter()
        mkm.remove_kernel(kernel_id)
        log.info("rv-jupyter: kernel %s keeps running in job %s", kernel_id, prov.job)
        let_go.append(kernel_id)
    return let_go
