"""Magics for work that runs on Rivanna itself: kernels in jobs, and web ports of jobs."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics

from rv_jupyter.magics.common import (
    CONFIG_HELP,
    LogText,
    argument,
    line_magic,
    magic_arguments,
    magics_class,
    parse_argstring,
    user_errors,
)


def connect(config: str | None) -> Any:
    import rv_jupyter

    return rv_jupyter.connect(config)


@magics_class
class RemoteMagics(Magics):
    """%rv_forward and %rv_kernelspec."""

    @magic_arguments()
    @argument("job", help="job id (%rv_ps lists yours)")
    @argument("port", nargs="?", type=int, help="the port on the job's node")
    @argument("--auto", action="store_true", help="find the ports the job's processes listen on")
    @argument(
        "--local",
        nargs="?",
        type=int,
        const=0,
        default=None,
        metavar="LOCAL_PORT",
        help="a plain TCP forward on 127.0.0.1 instead (no port: any free one)",
    )
    @argument("--close", action="store_true", help="close this job's forwards")
    @argument("--config", help=CONFIG_HELP)
    @line_magic
    @user_errors
    def rv_forward(self, line: str) -> Any:
        """A web port of your running job, as a link through this Jupyter server.

        `%rv_forward 1234 6006` links to TensorBoard (as it starts: no --bind_all
        needed) at /rv/proxy/1234/6006/; `%rv_forward 1234 --auto` finds what the job listens on;
        `fwd = %rv_forward 1234 8888 --local` opens 127.0.0.1:<port> -> node:8888 for tools
        that want a port, open while `fwd` is held (fwd.close() ends it).
        """
        from rv_jupyter.cluster.background import run_sync
        from rv_jupyter.cluster.forwards import ListeningPort, check_port
        from rv_jupyter.magics.display import PortLinks, server_base_url

        args = parse_argstring(self.rv_forward, line)
        forwards = connect(args.config).forwards
        if args.close:
            n = run_sync(forwards.aclose_all(args.job))
            return LogText(f"closed {n} forward(s) of job {args.job}")
        if args.auto == (args.port is not None):
            raise UsageError(
                "Give a port or --auto: `%rv_forward 1234 6006` or `%rv_forward 1234 --auto`."
            )
        if args.local is not None:
            if args.port is None:
                raise UsageError("--local needs the job's port: `%rv_forward 1234 8888 --local`.")
            return run_sync(forwards.alocal(args.job, args.port, args.local))
        node = run_sync(forwards.anode(args.job, fresh=True))
        if args.auto:
            ports = run_sync(forwards.alistening(args.job))
        else:
            ports = [ListeningPort(check_port(args.port), 0, "", False)]
        return PortLinks(args.job, node, ports, server_base_url())

    @magic_arguments()
    @argument("action", choices=["install", "list", "remove"], help="install | list | remove NAME")
    @argument("name", nargs="?", help="remove: the kernelspec's name (see list)")
    @argument("--gpu", type=int, default=1, help="number of GPUs (default 1)")
    @argument("--type", default=None, help="GPU type (a6000, a100_80, ...) or any")
    @argument("--time", default=None, help="walltime: 90m, 2h, 2:59:00")
    @argument("--mem", default=None, help="memory per node, e.g. 64G")
    @argument("--job", default=None, help="attach to this running job instead of allocating")
    @argument("--replace", action="store_true", help="overwrite a different spec of that name")
    @argument("--config", help=CONFIG_HELP)
    @line_magic
    @user_errors
    def rv_kernelspec(self, line: str) -> Any:
        """Kernels that run on Rivanna, for Jupyter's kernel picker.

        `%rv_kernelspec install --gpu 1 --type a100_80 --time 4h` adds
        "Rivanna: 1x A100 80GB, 4 h": a notebook with it allocates that (pending while
        Slurm queues it) and runs every cell on the GPU node. `--job 1234` attaches to a
        job you hold instead (shutdown then leaves the job running). `list`, `remove NAME`.
        """
        import pandas as pd

        from rv_jupyter.kernels import spec as specs

        args = parse_argstring(self.rv_kernelspec, line)
        if args.action == "install":
            where, spec = specs.install_from_config(
                args.config, gpus=args.gpu, gpu_type=args.type, time=args.time, mem=args.mem,
                job_id=args.job, replace=args.replace,
            )  # fmt: skip
            return LogText(f"installed {spec['display_name']!r} as {where.name} ({where})")
        if args.action == "remove":
            specs.remove(args.name or "")
            return LogText(f"removed {args.name}")
        rows = [
            {"name": n, "display_name": s["display_name"],
             **s["metadata"]["kernel_provisioner"]["config"]}
            for n, s in specs.installed(specs.user_kernels_dir())
        ]  # fmt: skip
        columns = ["name", "display_name", "gpus", "gpu_type", "time", "job_id"]
        return pd.DataFrame(rows, columns=columns)
