"""The Jupyter server extension: a REST API for the panel and Lab, and web ports by job.

Loading it only registers routes (no SSH, no heavy imports); the cluster connection opens
on the first request and is the process's one connection, shared with everything else.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "rv_jupyter.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from tornado.web import url

    from rv_jupyter.server import api, job_page, launch, live, proxy

    web_app = serverapp.web_app
    base = web_app.settings["base_url"].rstrip("/")
    routes = [
        url(base + pattern, handler, name=f"rv-{handler.__name__}")
        for pattern, handler in (
            *api.ROUTES,
            *job_page.ROUTES,
            *launch.ROUTES,
            *live.ROUTES,
            *proxy.ROUTES,
        )
    ]
    web_app.add_handlers(".*$", routes)
    launch.add_launcher_dir(serverapp)
    _use_pending_kernels(serverapp)
    _cancel_pending_on_shutdown(serverapp.kernel_manager)
    serverapp.log.info("rv-jupyter: REST API at %s/rv/api/, job ports at %s/rv/proxy/", base, base)


async def _start_jupyter_server_extension(serverapp: Any) -> None:
    """Once the server runs: take back remote kernels a previous server left running,
    and let them go again (rather than shut them down) when this one stops."""
    from rv_jupyter.kernels.adopt import adopt_all, let_go_all

    km = serverapp.kernel_manager
    await adopt_all(km, serverapp.log)
    original = km.shutdown_all

    async def shutdown_all(*args: Any, **kwargs: Any) -> Any:
        await let_go_all(km, serverapp.log)
        result = original(*args, **kwargs)
        if hasattr(result, "__await__"):
            result = await result
        return result

    km.shutdown_all = shutdown_all


def _cancel_pending_on_shutdown(kernel_manager: Any) -> None:
    """Shutting down a kernel still waiting for its Slurm job cancels that wait.

    jupyter_client's shutdown of a pending kernel first awaits its start, which for a
    queued job could be hours; an rv kernel's start is cancelled instead (and what it
    submitted with it), then the usual shutdown removes the kernel.
    """
    original = kernel_manager.shutdown_kernel

    async def shutdown_kernel(kernel_id: str, *args: Any, **kwargs: Any) -> Any:
        from rv_jupyter.kernels.provisioner import cancel_pending

        cancel_pending(kernel_id)
        result = original(kernel_id, *args, **kwargs)
        if hasattr(result, "__await__"):
            result = await result
        return result

    kernel_manager.shutdown_kernel = shutdown_kernel


def _use_pending_kernels(serverapp: Any) -> None:
    """A remote kernel may wait in Slurm's queue for a long time: with Jupyter's pending
    kernels, starting one returns at once (JupyterLab shows it starting) instead of
    holding the request open. Unless the user configured it either way."""
    configured = any(
        "use_pending_kernels" in serverapp.config.get(section, {})
        for section in ("MultiKernelManager", "MappingKernelManager",
                        "AsyncMultiKernelManager", "AsyncMappingKernelManager")
    )  # fmt: skip
    if not configured:
        serverapp.kernel_manager.use_pending_kernels = True
