"""`scontrol show job|node`: records of Key=Value pairs whose values may hold spaces."""

from __future__ import annotations

import re
import shlex

from pydantic import BaseModel, ConfigDict

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import gres

# A key starts a pair only after whitespace: `Reason=Not responding [slurm@...]` keeps
# its spaces, and `=` inside a value (`TRES=cpu=1,mem=4G`) stays in the value.
_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z][A-Za-z0-9_:/.]*)=")


def show_job_command(job_id: str) -> str:
    """`scontrol -o show job <id>` (one line per record)."""
    return f"scontrol -o show job {shlex.quote(job_id)}"


def show_node_command(node: str | None = None) -> str:
    """`scontrol -o show node [<name>]`."""
    return "scontrol -o show node" + (f" {shlex.quote(node)}" if node else "")


class ScontrolRecord(BaseModel):
    """One job or node record; every field as Slurm printed it."""

    model_config = ConfigDict(frozen=True)

    fields: dict[str, str]

    def get(self, key: str, default: str | None = None) -> str | None:
        """A field's raw value."""
        return self.fields.get(key, default)

    @property
    def job_id(self) -> str | None:
        """JobId of a job record."""
        return self.fields.get("JobId")

    @property
    def node_name(self) -> str | None:
        """NodeName of a node record."""
        return self.fields.get("NodeName")

    @property
    def node_addr(self) -> str | None:
        """The address other hosts reach the node at."""
        return self.fields.get("NodeAddr")

    @property
    def state(self) -> str | None:
        """JobState or State."""
        return self.fields.get("JobState") or self.fields.get("State")

    def tres(self, key: str = "AllocTRES") -> dict[str, str]:
        """A TRES field (AllocTRES, CfgTRES, TRES) as a dict."""
        return gres.tres(self.fields.get(key, ""))


def parse_scontrol(text: str) -> list[ScontrolRecord]:
    """Records from `scontrol show` output, one-line (`-o`) or multi-line form."""
    records: list[ScontrolRecord] = []
    for block in _blocks(text):
        flat = " ".join(line.strip() for line in block)
        keys = list(_KEY.finditer(flat))
        if not keys or keys[0].start() != 0:
            raise ParseError("Expected Key=Value pairs", command="scontrol", line=block[0])
        fields = {}
        for m, nxt in zip(keys, [*keys[1:], None], strict=True):
            end = nxt.start() if nxt else len(flat)
            fields[m.group(1)] = flat[m.end() : end].strip()
        records.append(ScontrolRecord(fields=fields))
    return records


def _blocks(text: str) -> list[list[str]]:
    # A record starts at a first key such as JobId= (one-line and multi-line forms
    # alike) or after a blank line; indented lines continue the current record.
    blocks: list[list[str]] = []
    fresh = True
    for line in text.splitlines():
        if not line.strip():
            fresh = True
            continue
        if fresh or _RECORD_START.match(line):
            blocks.append([line])
            fresh = False
        else:
            blocks[-1].append(line)
    return blocks


_RECORD_START = re.compile(r"^(JobId|NodeName|PartitionName|ReservationName)=")
