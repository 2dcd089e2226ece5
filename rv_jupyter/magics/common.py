"""What every magic shares: reading the line, one-line errors, request flags, help text."""

from __future__ import annotations

import functools
import html
import os
import re
import shlex
from collections.abc import Callable
from typing import Any, TypeVar, cast

from IPython.core import magic as ipy_magic
from IPython.core import magic_arguments as ipy_args
from IPython.core.error import UsageError

from rv_jupyter.errors import RvError, clip

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = "rv config file (default: $RV_CONFIG or ~/.rv/config.toml)"
# What an error may echo of one word of the user's line.
ECHO_LIMIT = 80
_LONG_WORD = re.compile(r"\S{200,}")


class HelpFormatter(ipy_args.MagicHelpFormatter):
    """IPython's magic help, with "Usage:" where IPython puts an RST `::` (which
    `%rv_up?` showed as a stray first line)."""

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Usage: %")  # type: ignore[no-untyped-call]


class _Arguments:
    def __call__(self, fn: Any) -> Any:
        fn.argcmd_kwds = {"formatter_class": HelpFormatter}
        return ipy_args.magic_arguments()(fn)  # type: ignore[no-untyped-call]


# IPython's decorators carry no types: these keep each magic's own signature for mypy.
line_magic = cast("Callable[[F], F]", ipy_magic.line_magic)
cell_magic = cast("Callable[[F], F]", ipy_magic.cell_magic)
C = TypeVar("C", bound=type)
magics_class = cast("Callable[[C], C]", ipy_magic.magics_class)


def argument(*args: Any, **kwargs: Any) -> Callable[[F], F]:
    """IPython's `@argument(...)` (argparse's add_argument arguments)."""
    return cast("Callable[[F], F]", ipy_args.argument(*args, **kwargs))  # type: ignore[no-untyped-call]


def magic_arguments() -> _Arguments:
    """IPython's `@magic_arguments()`, with rv's help formatter."""
    return _Arguments()


def parse_argstring(magic: Any, line: str) -> Any:
    """The magic's arguments from `line`, split as a shell would (quotes removed):
    `%rv_env set X 'a b'` sets `a b`. An unbalanced quote is a UsageError."""
    try:
        argv = split(line)
    except ValueError as exc:  # shlex: "No closing quotation", "No escaped character"
        raise UsageError(
            f"Cannot read the line: {str(exc).lower()}. Close the quote; a quote that is "
            'part of a value goes inside the other kind ("it\'s").'
        ) from None
    return magic.parser.parse_args(argv)


def split(line: str) -> list[str]:
    """Words as a POSIX shell splits them; on Windows a backslash is a path's, not an
    escape (C:\\Users\\me\\rv.toml stays whole), as in IPython's own splitting there."""
    lex = shlex.shlex(line, posix=True)
    lex.whitespace_split, lex.commenters = True, ""
    if os.name == "nt":
        lex.escape = ""
    return list(lex)


def user_errors(fn: F) -> F:
    """Show RvErrors and UsageErrors as one message (no traceback), cutting what they
    echo of the user's line to ECHO_LIMIT characters a word."""

    @functools.wraps(fn)
    def wrapper(self: Any, line: str = "", *rest: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, line, *rest, **kwargs)
        except RvError as err:
            raise UsageError(echo_cut(str(err), line)) from None
        except UsageError as err:
            raise UsageError(echo_cut(str(err), line)) from None

    return wrapper  # type: ignore[return-value]


def echo_cut(message: str, line: str) -> str:
    """`message` with every long word of `line` it repeats cut short (and any other
    word of 200 characters or more: a message is read, not scrolled)."""
    words = sorted({w for w in [*line.split(), *_quiet_split(line)] if len(w) > ECHO_LIMIT},
                   key=len, reverse=True)  # fmt: skip
    for word in words:
        message = message.replace(word, clip(word, ECHO_LIMIT))
    return _LONG_WORD.sub(lambda m: clip(m.group(0), ECHO_LIMIT), message)


def _quiet_split(line: str) -> list[str]:
    try:
        return split(line)
    except ValueError:
        return []


class Cancelled(KeyboardInterrupt):
    """The stop button, said in one line: IPython shows `_render_traceback_()` in place
    of the 40-line traceback through rv's internals. Still a KeyboardInterrupt, so
    code that catches those (and a kernel's run-all) stops as it would."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def _render_traceback_(self) -> list[str]:
        return [self.message]


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
            argument(
                "--watch", action="store_true", help="watchdog in the job: alerts while you're away"
            ),
            argument("--config", default=None, help=CONFIG_HELP),
        ]
    ):
        fn = decorator(fn)
    return fn
