"""Reading `|`-delimited Slurm output by header names, never by position.

Why this shape: fixed-width output (`-o "%.18i"`, `-O Field:20`) cuts long values, which
then run into the next column, and whitespace splitting breaks on names with spaces. So
every command here asks for an explicit `|` delimiter and keeps its header line, and
the parser maps columns by header name: columns Slurm adds, drops or reorders between
22.05 and 24.x do not shift anything. Free text (job name, reason) goes last in every
format string, and lines are split with `maxsplit`, so a `|` typed into a job name
stays inside that name instead of shifting the columns after it.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from rv_jupyter.errors import ParseError

if TYPE_CHECKING:
    import pandas as pd

M = TypeVar("M", bound=BaseModel)


class Row(dict[str, str]):
    """One line's values by upper-cased header name; `line` is the text it came from."""

    def __init__(self, values: Iterable[tuple[str, str]], line: str) -> None:
        super().__init__(values)
        self.line = line  # for errors that must show what could not be read


def rows(text: str, *, command: str, required: Iterable[str] = ()) -> list[Row]:
    """Rows of `|`-delimited `text` (first non-empty line is the header) as dicts.

    Header names are upper-cased; columns we do not know are kept. No output, or a
    header alone, is no rows (an empty queue is not an error).
    """
    lines, header, split = _split(text, command=command, required=required)
    return [
        Row(zip(header, [v.strip() for v in values], strict=True), line)
        for values, line in zip(split, lines[1:], strict=True)
    ]


def columns(text: str, *, command: str, required: Iterable[str] = ()) -> dict[str, list[str]]:
    """The same table as `rows`, by column: header name -> values, top to bottom.

    For outputs of thousands of lines (a whole cluster's queue or nodes): a column can be
    mapped through one cached converter at C speed, where per-row dicts cost ~1 us each.
    """
    _, header, split = _split(text, command=command, required=required)
    if not header:
        return {name: [] for name in required}
    by_column = zip(*split, strict=True) if split else ([] for _ in header)
    return {name: list(map(str.strip, col)) for name, col in zip(header, by_column, strict=True)}


def _split(
    text: str, *, command: str, required: Iterable[str]
) -> tuple[list[str], list[str], list[list[str]]]:
    """The non-empty lines, the header names, and each data line's values (unstripped)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return [], [], []
    head = lines[0].strip()
    # `-O "Field:|"` ends every line, header included, with one `|`; sacct/sshare -P
    # add none. Decide from the header, so a name that itself ends in `|` survives.
    trailing = head.endswith("|")
    header = _names((head[:-1] if trailing else head).split("|"))
    missing = [r for r in required if r not in header]
    if missing:
        raise ParseError(
            f"Expected column(s) {', '.join(missing)} in the header", command=command, line=head
        )
    width, cut = len(header), len(header) - 1
    body = [ln[:-1] if ln[-1] == "|" else ln for ln in lines[1:]] if trailing else lines[1:]
    split = [line.split("|", cut) for line in body]
    if split and min(map(len, split)) < width:
        i = next(i for i, values in enumerate(split) if len(values) < width)
        raise ParseError(
            f"Expected {width} `|`-separated fields, found {len(split[i])}",
            command=command,
            line=lines[i + 1],
        )
    return lines, header, split


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a big output is parsed.

    A 10k-row queue allocates ~200k strings and lists, none of them cyclic, which trips
    the collector's generation thresholds dozens of times: measured, 10k squeue rows
    read into columns in 28 ms with it and 20 ms without.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _names(titles: list[str]) -> list[str]:
    # Some fields share a title (squeue's JobID and JobArrayID both print JOBID): the
    # second becomes JOBID#2 rather than silently overwriting the first.
    out: list[str] = []
    for t in titles:
        name = t.strip().upper()
        n = sum(1 for o in out if o == name or o.startswith(name + "#"))
        out.append(f"{name}#{n + 1}" if n else name)
    return out


def pop(row: dict[str, str], *names: str) -> str:
    """The first of `names` present in `row`, removed from it ("" if none is)."""
    for name in names:
        if name in row:
            return row.pop(name)
    return ""


@functools.lru_cache(maxsize=4096)  # counts repeat across a queue's rows
def to_int(text: str | None) -> int | None:
    """An int, or None for empty, N/A and other non-numbers."""
    t = (text or "").strip()
    return int(t) if t.isdigit() else None


def to_float(text: str | None) -> float | None:
    """A float (commas allowed, `inf` too), or None for empty, N/A and other non-numbers."""
    t = (text or "").strip().replace(",", "")
    try:
        return float(t)
    except ValueError:
        return None


class Record(BaseModel):
    """A parsed row; columns the parser does not know stay in `extra`."""

    model_config = ConfigDict(frozen=True)

    extra: dict[str, str] = {}


class Table(list[M], Generic[M]):
    """A list of parsed rows that can also show itself as a DataFrame."""

    def __init__(self, items: Iterable[M] = (), *, model: type[M] | None = None) -> None:
        super().__init__(items)
        self.model = model  # gives an empty table its columns

    def to_frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame (one column per model field)."""
        return frame(self, model=self.model)


def frame(records: Iterable[BaseModel], *, model: type[BaseModel] | None = None) -> pd.DataFrame:
    """A DataFrame of records; pandas is imported only here, so parsing stays cheap."""
    import pandas as pd

    data = [r.model_dump(mode="python", exclude={"extra"}) for r in records]
    if not data and model is not None:
        return pd.DataFrame(columns=[f for f in model.model_fields if f != "extra"])
    return pd.DataFrame(data)
