"""%rv_init: first-time set-up of the rv config, the host key and the account."""

from __future__ import annotations

from typing import Any

from rv_jupyter.magics.base import RvMagicsBase
from rv_jupyter.magics.common import (
    CONFIG_HELP,
    argument,
    line_magic,
    magic_arguments,
    magics_class,
    parse_argstring,
    user_errors,
)


@magics_class
class SetupMagics(RvMagicsBase):
    """%rv_init."""

    @magic_arguments()
    @argument("--user", required=True, help="your UVA computing id, e.g. abs6bd")
    @argument("--host", default=None, help="login host or ~/.ssh/config alias")
    @argument("--port", type=int, default=None, help="SSH port (default 22)")
    @argument("--identity-file", default=None, help="private key (default: agent and ~/.ssh)")
    @argument("--known-hosts", default=None, help="known_hosts file (default ~/.ssh/known_hosts)")
    @argument("--trust", default=None, help="the SHA256 host key fingerprint you checked")
    @argument("--no-bashrc", action="store_true", help="leave ~/.bashrc on the cluster alone")
    @argument("--config", default=None, help=CONFIG_HELP)
    @line_magic
    @user_errors
    def rv_init(self, line: str) -> Any:
        """First-time set-up: write the rv config, trust the host key, find your account.

        `%rv_init --user abs6bd` connects, shows the login node's host key fingerprint if
        it is new (then `--trust SHA256:...` once you have checked it), takes the default
        account from `allocations`, and points caches at scratch in ~/.bashrc between
        marker lines. Writes ~/.rv/config.toml (or $RV_CONFIG), keeping what is there.
        """
        from pathlib import Path

        from rv_jupyter import config as rv_config
        from rv_jupyter.cluster.background import run_sync
        from rv_jupyter.cluster.onboarding import initialise
        from rv_jupyter.facts import LOGIN_HOST

        args = parse_argstring(self.rv_init, line)
        path = Path(rv_config.config_path(args.config))
        return run_sync(
            initialise(
                path, user=args.user, host=args.host or LOGIN_HOST, port=args.port,
                identity_file=args.identity_file, known_hosts=args.known_hosts,
                trust=args.trust, bashrc=not args.no_bashrc,
            )
        )  # fmt: skip
