"""A JobSampler whose nodes are fed recorded nvidia-smi loop output, not SSH channels.

Everything after the channel is the real sampler: its line reader, the real parsers,
sample grouping, ring buffer, watchers and leases. Only `_start` (which asks Slurm for
the job's nodes and opens one step per node) is replaced.
"""

from __future__ import annotations

import asyncio
from collections import deque
from pathlib import Path
from typing import Any, cast

from rv_jupyter.errors import UnknownJob
from rv_jupyter.telemetry import sampler as sampler_module
from rv_jupyter.telemetry.sampler import JobSampler, _Node

DATA = Path(__file__).parent / "data"
NODES = {"udc-an28-1": "loop.a100x2.txt", "udc-an28-2": "loop.mig.txt"}


class StandInSampler(JobSampler):
    """Samples the recorded outputs of `nodes` (node -> data file); `ended`: the job is gone."""

    def __init__(self, job_id: str = "4242", nodes: dict[str, str] | None = None) -> None:
        super().__init__(cast(Any, object()), job_id)
        self.files = NODES if nodes is None else nodes
        self.ended = False
        self.starts = 0

    async def _start(self) -> None:
        if self.ended:
            raise UnknownJob(f"Job {self.job_id} is not one of your running jobs.")
        self.starts += 1
        for name, file in self.files.items():
            node = self.nodes.get(name) or _Node(name, deque(maxlen=1800))
            self.nodes[name] = node
            node.task = asyncio.ensure_future(self._feed(node, (DATA / file).read_text()))

    async def _feed(self, node: _Node, text: str) -> None:
        for line in text.splitlines():
            self._line(node, line, False)
        self._flush(node)  # the loop's next line would close the last sample
        await asyncio.sleep(3600)  # a channel that stays open until the watch ends


def register(s: JobSampler) -> Any:
    """Put `s` where sampler_for / running_sampler find it; returns its cluster key."""
    sampler_module._SAMPLERS[(id(s.cluster), s.job_id)] = s
    return s.cluster
