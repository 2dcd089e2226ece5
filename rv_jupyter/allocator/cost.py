"""What a request will cost in service units, before anything is submitted. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rv_jupyter.allocator.strategies import Strategy
from rv_jupyter.slurm import SuBalance

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class CostEstimate:
    """SUs per strategy for the whole time asked, and the balance left afterwards."""

    rows: list[tuple[Strategy, float]]
    account: str | None
    balance: float | None

    @property
    def cheapest(self) -> float:
        """SUs if the cheapest strategy wins."""
        return min((su for _, su in self.rows), default=0.0)

    @property
    def dearest(self) -> float:
        """SUs if the most expensive strategy wins (the fan-out may pick any)."""
        return max((su for _, su in self.rows), default=0.0)

    @property
    def balance_after(self) -> tuple[float, float] | None:
        """Balance left in the worst and the best case."""
        if self.balance is None:
            return None
        return (self.balance - self.dearest, self.balance - self.cheapest)

    def to_frame(self) -> pd.DataFrame:
        """One row per strategy: partition, topology, hours, SU/h, SUs."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "strategy": s.key,
                    "partition": s.shape.gpu.partition,
                    "topology": s.shape.topology,
                    "hours": round(_runtime_s(s) / 3600, 2),
                    "su_per_hour": round(s.su_per_hour, 2),
                    "sus": round(su, 2),
                }
                for s, su in self.rows
            ]
        )

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        import html

        after = self.balance_after
        tail = (
            f"<p>{html.escape(self.account or '')}: {self.balance:,.2f} SUs now, "
            f"{after[0]:,.2f} to {after[1]:,.2f} after</p>"
            if after is not None and self.balance is not None
            else ""
        )
        return str(self.to_frame().to_html(index=False)) + tail

    def __str__(self) -> str:
        lines = [f"{s.describe()}: {su:,.2f} SUs" for s, su in self.rows]
        after = self.balance_after
        if after is not None:
            lines.append(
                f"{self.account}: {self.balance:,.2f} SUs now, "
                f"{after[0]:,.2f} to {after[1]:,.2f} after"
            )
        return "\n".join(lines)


def _runtime_s(s: Strategy) -> int:
    # A checkpointed request runs its total; a --time-min job at most its --time.
    return s.total_s or s.time_s


def estimate(
    strategies: list[Strategy], allocations: list[SuBalance], account: str | None
) -> CostEstimate:
    """SUs per strategy and the balance of `account` (or the first account) after."""
    rows = [(s, s.su_per_hour * _runtime_s(s) / 3600) for s in strategies]
    chosen = next((a for a in allocations if a.account == account), None) if account else None
    if chosen is None and not account and allocations:
        chosen = allocations[0]
    return CostEstimate(
        rows, chosen.account if chosen else account, chosen.balance if chosen else None
    )
