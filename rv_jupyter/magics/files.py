"""Magics for what lives beside the notebook: the folder's workspace on scratch, and the
environment jobs get."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics

from rv_jupyter.magics.common import (
    CONFIG_HELP,
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
class FileMagics(Magics):
    """%rv_env and %rv_sync."""

    @magic_arguments()
    @argument("action", choices=["set", "list", "rm"], help="set NAME [VALUE] | list | rm NAME")
    @argument("name", nargs="?", help="variable name")
    @argument("value", nargs="?", help="value (omit with --secret: you will be asked)")
    @argument("--secret", action="store_true", help="encrypt at rest and never display it")
    @line_magic
    @user_errors
    def rv_env(self, line: str) -> Any:
        """Environment variables for your jobs; secrets are masked and encrypted at rest.

        `%rv_env set WANDB_PROJECT demo`, `%rv_env set HF_TOKEN --secret` (asks for the
        value, so it never lands in the notebook), `%rv_env list`, `%rv_env rm HF_TOKEN`.
        Jobs get them through a 0600 file they source and delete. Values are quoted as
        in a shell: `%rv_env set GREETING 'hello world'` stores hello world.
        """
        from rv_jupyter.workspace.envstore import EnvStore

        args = parse_argstring(self.rv_env, line)
        store = EnvStore()
        if args.action == "list":
            return store.to_frame()
        if not args.name:
            raise UsageError(f"%rv_env {args.action} needs a variable name.")
        if args.action == "rm":
            store.remove(args.name)
            return store.to_frame()
        if args.secret and args.value is not None:
            raise UsageError(
                "Do not type a secret on the line (it would stay in the notebook): "
                f"`%rv_env set {args.name} --secret` asks for it."
            )
        value = args.value
        if value is None:
            if not args.secret:
                raise UsageError(f"%rv_env set {args.name} VALUE (or --secret to be asked).")
            import getpass

            value = getpass.getpass(f"{args.name}: ")
        store.set(args.name, value, secret=args.secret)
        return store.to_frame()

    @magic_arguments()
    @argument("direction", choices=["push", "pull"], help="push the folder, or pull results")
    @argument("paths", nargs="*", help="pull: files or folders in the workspace (default all)")
    @argument("--into", default=None, help="pull: local folder (default ./rv-results)")
    @argument("--force", action="store_true", help="pull: replace local files that differ")
    @argument("--config", help=CONFIG_HELP)
    @line_magic
    @user_errors
    def rv_sync(self, line: str) -> Any:
        """Sync this folder with its workspace on scratch.

        `%rv_sync push` sends it (honouring .gitignore/.rvignore; weights stay local);
        `%rv_sync pull outputs/` brings files back into ./rv-results, never replacing a
        local file that differs unless --force.
        """
        from pathlib import Path

        from rv_jupyter.cluster.background import run_sync
        from rv_jupyter.workspace.sync import pull, push

        args = parse_argstring(self.rv_sync, line)
        cluster = connect(args.config)
        if args.direction == "push":
            return run_sync(push(cluster, Path.cwd()))
        into = Path(args.into) if args.into else None
        return run_sync(pull(cluster, Path.cwd(), args.paths, into=into, force=args.force))
