"""Several commands in one SSH round trip: the script we send and how to split its output.

Pure. The script runs each command with stdin from /dev/null, its stdout and stderr
into files of a private temporary directory, then prints every file between marker
lines that carry a random token made for this call only. Command output cannot forge a
marker without guessing the token. The directory goes however the script ends: a
dropped connection kills it with SIGPIPE (its next write) or SIGHUP, and sh runs no
EXIT trap for a signal it does not trap itself.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from rv_jupyter.errors import ParseError


@dataclass(frozen=True)
class Completed:
    """What one remote command did."""

    command: str
    stdout: str
    stderr: str
    exit_status: int | None
    stdout_bytes: bytes = field(default=b"", repr=False)  # only for run(binary=True)


def new_token() -> str:
    """A marker token no output can predict."""
    return "rv-batch-" + secrets.token_hex(16)


def build_script(commands: Sequence[str], token: str, *, parallel: bool = False) -> str:
    """The POSIX sh script that runs `commands` and frames their results with `token`.

    With `parallel`, the commands run at the same time (for independent reads); the
    output order is the order given either way.
    """
    lines = [
        'rv_t=$(mktemp -d "${TMPDIR:-/tmp}/rv-batch.XXXXXXXX") || exit 97',
        "trap 'rm -rf \"$rv_t\"' EXIT",
        # `exit` from a signal's trap runs the EXIT trap; the commands' own subshells
        # get the default dispositions back (sh resets caught signals in children).
        "trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM",
    ]
    amp = " &" if parallel else ""
    for i, cmd in enumerate(commands):
        # A subshell per command: an `exit` or `cd` in one cannot affect the others.
        lines.append(
            f'( ( {cmd}\n) </dev/null >"$rv_t/{i}.out" 2>"$rv_t/{i}.err"; '
            f'echo $? >"$rv_t/{i}.rc" ){amp}'
        )
    if parallel:
        lines.append("wait")
    for i in range(len(commands)):
        for part in ("out", "err"):
            lines.append(f"printf '\\n{token}:{i}:{part}\\n'; cat \"$rv_t/{i}.{part}\"")
        lines.append(f'printf \'\\n{token}:{i}:rc %s\\n\' "$(cat "$rv_t/{i}.rc")"')
    lines.append(f"printf '\\n{token}:end\\n'")
    return "\n".join(lines) + "\n"


def split_output(stdout: str, commands: Sequence[str], token: str) -> list[Completed]:
    """Split the framed output of `build_script` back into one result per command."""
    marker = re.compile(rf"\n{re.escape(token)}:(?:(\d+):(out|err|rc)(?: (-?\d*))?|end)\n")
    parts: dict[tuple[int, str], str] = {}
    codes: dict[int, int | None] = {}
    pos = 0
    current: tuple[int, str] | None = None
    ended = False
    for m in marker.finditer(stdout):
        if current is not None:
            parts[current] = stdout[pos : m.start()]
        if m.group(1) is None:
            ended = True
            current = None
            break
        i, kind = int(m.group(1)), m.group(2)
        if kind == "rc":
            codes[i] = int(m.group(3)) if m.group(3) else None
            current = None
        else:
            current = (i, kind)
        pos = m.end()
    if not ended:
        raise ParseError(
            "The batched commands' output was cut off",
            command="batch",
            line=stdout[-200:],
            hint="The connection may have dropped mid-command; try again.",
        )
    return [
        Completed(cmd, parts.get((i, "out"), ""), parts.get((i, "err"), ""), codes.get(i))
        for i, cmd in enumerate(commands)
    ]
