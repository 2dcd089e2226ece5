"""How the magics show progress and tables in a notebook."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from rv_jupyter.allocator.fanout import Event


class Progress:
    """A live table of the fan-out in the cell's output (one row per strategy)."""

    def __init__(self) -> None:
        from IPython.display import HTML, display

        self._rows: dict[str, Event] = {}
        self._handle = display(HTML("<i>probing the queue…</i>"), display_id=True)

    def update(self, event: Event) -> None:
        from IPython.display import HTML

        self._rows[event.strategy.key] = event
        body = "".join(
            f"<tr><td>{html.escape(e.strategy.describe())}</td><td>{e.job_id or ''}</td>"
            f"<td>{html.escape(e.state)}</td><td>{html.escape(e.reason or '')}</td></tr>"
            for e in self._rows.values()
        )
        if self._handle is not None:
            self._handle.update(
                HTML(f"<table><tr><th>strategy</th><th>job</th><th>state</th><th>reason</th>"
                     f"</tr>{body}</table>")
            )  # fmt: skip

    def done(self, text: str) -> None:
        from IPython.display import HTML

        if self._handle is not None:
            self._handle.update(HTML(html.escape(text).replace("\n", "<br>")))


def strategies_frame(strategies: list[Any], skipped: dict[str, str]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "strategy": s.key,
                "partition": s.shape.gpu.partition,
                "topology": s.shape.topology,
                "how": s.describe(),
                "starts": "now" if s.immediate else s.wait_s,
                "su_per_hour": round(s.su_per_hour, 2),
            }
            for s in strategies
        ]
    )
    frame.attrs["skipped"] = skipped
    return frame


def jobs_frame(jobs: list[Any]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        [
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
        ],
        columns=["id", "name", "gpus", "gpu_type", "node", "state", "elapsed_s", "left_s",
                 "start", "reason"],
    )  # fmt: skip
