"""Tables the magics return: raw values for code, shown in a form a person reads.

`%rv_ps` returns a `JobsFrame`: a real DataFrame whose cells stay raw (seconds, None,
datetimes) for code that filters or sums them, while a notebook shows it without the
index, times as h:mm and blanks where Slurm has nothing to say. Anything derived from
it (a slice, a copy) is a plain DataFrame. `%rv_cost` returns a `CostTable`, the
allocator's CostEstimate with the strategy `%rv_up` expects to win marked.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from rv_jupyter.allocator.cost import CostEstimate
from rv_jupyter.magics.display import describe, topology

JOB_COLUMNS = ["id", "name", "gpus", "gpu_type", "node", "state", "elapsed_s", "left_s",
               "start", "reason"]  # fmt: skip
# What a person sees for each raw column.
HEADINGS = {"id": "job", "name": "name", "gpus": "GPUs", "gpu_type": "GPU type", "node": "node",
            "state": "state", "elapsed_s": "elapsed", "left_s": "left", "start": "start",
            "reason": "reason"}  # fmt: skip
PICK = "★"


def hm(seconds: Any) -> str:
    """Seconds as h:mm (`0:05`, `26:40`); blank when unknown."""
    if seconds is None or pd.isna(seconds):
        return ""
    minutes = int(seconds) // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


def blank(value: Any) -> str:
    """A cell as text, with Slurm's "None", "(null)" and missing values left blank."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    text = str(value)
    return "" if text in ("None", "(null)", "nan", "NaT") else text


def readable_jobs(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame`'s rows as text a person reads, under readable headings."""
    return pd.DataFrame(
        {
            HEADINGS[c]: [hm(v) if c.endswith("_s") else blank(v) for v in frame[c]]
            for c in JOB_COLUMNS
            if c in frame.columns
        }
    )


class JobsFrame(pd.DataFrame):
    """Your jobs: a DataFrame of raw values that a notebook shows readably."""

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        # Slices, copies and arithmetic are plain DataFrames: only %rv_ps's own result
        # is shown this way.
        return pd.DataFrame

    @classmethod
    def of(cls, jobs: list[Any]) -> JobsFrame:
        """From the cluster's job records."""
        rows = [
            {
                "id": j.job_id,
                "name": j.name,
                "gpus": j.gpus,
                "gpu_type": j.gpu_type,
                "node": j.node_list,
                "state": j.state.value,
                "elapsed_s": j.time_used_s,
                "left_s": (j.time_limit_s - (j.time_used_s or 0)) if j.time_limit_s else None,
                "start": j.start_time,
                "reason": j.reason,
            }
            for j in jobs
        ]
        return cls(pd.DataFrame(rows, columns=JOB_COLUMNS))

    @property
    def frame(self) -> pd.DataFrame:
        """The raw values as a plain DataFrame."""
        return pd.DataFrame(self)

    def _repr_html_(self) -> str:
        if self.empty:
            return "<p>No jobs of yours are queued or running.</p>"
        styled = readable_jobs(self).style.hide(axis="index")
        left: Any = [{"selector": "td, th", "props": [("text-align", "left")]}]
        return str(styled.set_table_styles(left).to_html())

    def __repr__(self) -> str:
        if self.empty:
            return "No jobs of yours are queued or running."
        return str(readable_jobs(self).to_string(index=False))


@dataclass(frozen=True)
class CostTable(CostEstimate):
    """SUs per strategy and the balance after, with the one %rv_up expects to win marked.

    %rv_up submits every row at once and keeps the first job that starts; the rows are
    ranked by Slurm's start estimate, so the first one is the expected winner.
    """

    @classmethod
    def of(cls, estimate: CostEstimate) -> CostTable:
        """Mark an estimate."""
        return cls(estimate.rows, estimate.account, estimate.balance)

    @property
    def pick(self) -> str | None:
        """The key of the strategy expected to win."""
        return self.rows[0][0].key if self.rows else None

    def to_frame(self) -> pd.DataFrame:
        """One row per strategy, the expected winner marked in `%rv_up`."""
        return pd.DataFrame(
            [
                {
                    "%rv_up": PICK if i == 0 else "",
                    "strategy": describe(s),
                    "partition": s.shape.gpu.partition,
                    "GPUs": topology(s.shape.nodes, s.shape.per_node),
                    "hours": round((s.total_s or s.time_s) / 3600, 2),
                    "su_per_hour": round(s.su_per_hour, 2),
                    "sus": round(su, 2),
                }
                for i, (s, su) in enumerate(self.rows)
            ],
            columns=["%rv_up", "strategy", "partition", "GPUs", "hours", "su_per_hour", "sus"],
        )

    def _balance_line(self) -> str:
        after = self.balance_after
        if after is None or self.balance is None:
            return ""
        return (
            f"{self.account}: {self.balance:,.2f} SUs now, {after[0]:,.2f} to {after[1]:,.2f} after"
        )

    def _legend(self) -> str:
        return (
            f"{PICK} the one %rv_up expects to start first: it submits every row at once and "
            "keeps the first job that starts."
        )

    def _repr_html_(self) -> str:
        table = self.to_frame().style.hide(axis="index").to_html()
        parts = [str(table), f"<p>{html.escape(self._legend())}</p>"]
        if self._balance_line():
            parts.append(f"<p>{html.escape(self._balance_line())}</p>")
        return "".join(parts)

    def __str__(self) -> str:
        lines = [
            f"{PICK if i == 0 else ' '} {describe(s)}: {su:,.2f} SUs"
            for i, (s, su) in enumerate(self.rows)
        ]
        lines.append(self._legend())
        if self._balance_line():
            lines.append(self._balance_line())
        return "\n".join(lines)


class PlanFrame(pd.DataFrame):
    """A dry run's strategies (a DataFrame), shown with what the plan found out: the
    types left out and why, each window and what ends it, and when nothing starts now,
    when something could."""

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    @classmethod
    def of(cls, frame: pd.DataFrame, notes: list[str]) -> PlanFrame:
        """`frame` with `notes` (also kept in `.attrs["notes"]`)."""
        out = cls(frame)
        out.attrs.update(frame.attrs)
        out.attrs["notes"] = notes
        return out

    def _notes(self) -> list[str]:
        notes = list(self.attrs.get("notes", []))
        skipped = self.attrs.get("skipped", {})
        if skipped:
            notes.append("Left out: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
        return notes

    def _repr_html_(self) -> str:
        table = pd.DataFrame(self).to_html(index=False)
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self._notes())
        return table + (f"<ul>{notes}</ul>" if notes else "")

    def __repr__(self) -> str:
        text = pd.DataFrame(self).to_string(index=False)
        return "\n".join([text, *self._notes()])
