"""IPython magics: thin faces over the cluster handle (grown by the notebook issue)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from rv_jupyter.errors import RvError


@magics_class
class RvMagics(Magics):
    """The %rv_* magics."""

    @magic_arguments()
    @argument("--config", help="rv config file (default: $RV_CONFIG or ~/.rv/config.toml)")
    @line_magic
    def rv_status(self, line: str) -> Any:
        """Show the cluster: GPUs free per partition, your jobs, SU balance, quotas.

        Reads everything in one SSH round trip. Example: `%rv_status`
        """
        args = parse_argstring(self.rv_status, line)
        import rv_jupyter

        try:
            return rv_jupyter.connect(args.config).state()
        except RvError as err:
            raise UsageError(str(err)) from None


def register(ipython: Any) -> None:
    """Register the magics with an IPython shell."""
    ipython.register_magics(RvMagics)
