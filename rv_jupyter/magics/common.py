"""What every magic shares: turning RvErrors into one-line UsageErrors, request flags."""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from typing import Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from rv_jupyter.errors import RvError

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = "rv config file (default: $RV_CONFIG or ~/.rv/config.toml)"


def user_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RvError as err:
            raise UsageError(str(err)) from None

    return wrapper  # type: ignore[return-value]


class LogText(str):
    """A job's log: plain text in a terminal, a scrollable block in a notebook."""

    def _repr_html_(self) -> str:
        return "<pre style='max-height:30em;overflow:auto'>" + html.escape(str(self)) + "</pre>"


def request_args(fn: F) -> F:
    for decorator in reversed(
        [
            argument("--gpu", type=int, default=None, help="number of GPUs (default 1)"),
            argument("--type", default=None, help="GPU type (a6000, a100_80, ...) or any"),
            argument("--time", default=None, help="walltime: 90m, 2h, 3d, 2:59:00"),
            argument("--mem", default=None, help="memory per node, e.g. 64G"),
            argument("--vram", type=int, default=None, help="at least this many GB per GPU"),
            argument("--nodes", type=int, default=None, help="spread the GPUs over N nodes"),
            argument("--mig", action="store_true", help="a free MIG slice (1 GPU, 10 GB)"),
            argument("--checkpoint", action="store_true", help="allow checkpoint segments"),
            argument(
                "--segment", default=None, help="run in checkpoint segments of this length, e.g. 1h"
            ),
            argument("--account", default=None, help="SU account (default from config)"),
            argument("--config", default=None, help=CONFIG_HELP),
        ]
    ):
        fn = decorator(fn)
    return fn
