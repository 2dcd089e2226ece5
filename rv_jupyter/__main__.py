"""`python -m rv_jupyter`: the cluster state, and Rivanna kernelspecs, from a shell.

python -m rv_jupyter state [--json]
python -m rv_jupyter kernelspec install --gpu 1 --type a100_80 --time 4h [--replace]
python -m rv_jupyter kernelspec install --job 1234567
python -m rv_jupyter kernelspec list
python -m rv_jupyter kernelspec remove NAME
"""

from __future__ import annotations

import argparse
import json
import sys

from rv_jupyter.errors import RvError

CONFIG_HELP = "rv config file (default: $RV_CONFIG or ~/.rv/config.toml)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rv_jupyter", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    state = sub.add_parser("state", help="print the cluster state")
    state.add_argument("--config", help=CONFIG_HELP)
    state.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ks = sub.add_parser("kernelspec", help="install, list or remove Rivanna kernels")
    ks.add_argument("action", choices=["install", "list", "remove"])
    ks.add_argument("name", nargs="?", help="remove: the kernelspec's name")
    ks.add_argument("--gpu", type=int, default=1, help="number of GPUs (default 1)")
    ks.add_argument("--type", default=None, help="GPU type or any (default: the config's)")
    ks.add_argument("--time", default=None, help="walltime (default: the config's)")
    ks.add_argument("--mem", default=None, help="memory per node, e.g. 64G")
    ks.add_argument("--job", default=None, help="attach to this running job instead")
    ks.add_argument("--replace", action="store_true", help="overwrite a different spec")
    ks.add_argument("--config", help=CONFIG_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "state":
            import rv_jupyter

            state = rv_jupyter.connect(args.config).state()
            print(state.model_dump_json(indent=2) if args.json else state)
            return 0
        return _kernelspec(args)
    except RvError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _kernelspec(args: argparse.Namespace) -> int:
    from rv_jupyter.kernels import spec as specs

    if args.action == "install":
        where, _ = specs.install_from_config(
            args.config, gpus=args.gpu, gpu_type=args.type, time=args.time, mem=args.mem,
            job_id=args.job, replace=args.replace,
        )  # fmt: skip
        print(where.name)
    elif args.action == "remove":
        specs.remove(args.name or "")
    else:
        for name, spec in specs.installed(specs.user_kernels_dir()):
            print(name, json.dumps(spec["display_name"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
