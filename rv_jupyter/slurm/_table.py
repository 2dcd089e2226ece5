"""Reading `|`-delimited Slurm output by header names, never by position.

Our format strings put `|` after every field (`-O "Field:|"`: with a suffix and no
size, Slurm 22.05-24.x print the whole value; without one a field is padded *and cut*
to 20 characters) and the one free-text field (a job name) last, so a `|` typed into a
name lands in that field instead of shifting the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from rv_jupyter.errors import ParseError

if TYPE_CHECKING:
    import pandas as pd


def rows(text: str, *, command: str, required: Iterable[str] = ()) -> list[dict[str, str]]:
    """Rows of `|`-delimited `text` (first non-empty line is the header) as dicts.

    Header names are upper-cased; columns we do not know are kept. A trailing `|` (as
    `-O "Field:|"` prints) is ignored.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    header = [h.strip().upper() for h in _strip_trailing(lines[0]).split("|")]
    missing = [r for r in required if r not in header]
    if missing:
        raise ParseError(
            f"Expected columns {', '.join(missing)} in the header", command=command, line=lines[0]
        )
    out = []
    for line in lines[1:]:
        values = _strip_trailing(line, len(header)).split("|", len(header) - 1)
        if len(values) < len(header):
            raise ParseError(
                f"Expected {len(header)} fields, found {len(values)}", command=command, line=line
            )
        out.append(dict(zip(header, (v.strip() for v in values), strict=True)))
    return out


def _strip_trailing(line: str, fields: int | None = None) -> str:
    # `-O "X:|"` ends every line with a `|`; drop it unless it belongs to the last field.
    if line.endswith("|") and (fields is None or line.count("|") >= fields):
        return line[:-1]
    return line


class Record(BaseModel):
    """A parsed row; unknown columns stay in `extra`."""

    model_config = ConfigDict(frozen=True)

    extra: dict[str, str] = {}


def frame(records: Iterable[BaseModel]) -> pd.DataFrame:
    """A DataFrame of records (pandas imported only when asked)."""
    import pandas as pd

    data = [r.model_dump(mode="python", exclude={"extra"}) for r in records]
    return pd.DataFrame(data)
