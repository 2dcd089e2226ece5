"""`scontrol show job|node`: records of Key=Value pairs whose values may hold spaces.

Why this form: `scontrol` has no delimiter option, so a value runs until the next
` Key=` where Key is a CamelCase, identifier-like token (`Reason=Not responding
[slurm@...]`, `OS=Linux 6.1.0 #1 SMP`, `Command=/a b` keep their spaces; `=` inside a
value, as in `TRES=cpu=1,mem=4G`, stays in it). `-o` prints one record per line, but
the default multi-line form is read too. Keys start upper-case in Slurm 22.05-24.x,
which keeps `lr=0.1` inside a `Comment=` from being taken for a key.
"""

from __future__ import annotations

import re
import shlex

from pydantic import BaseModel, ConfigDict

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import gres

_KEY = re.compile(r"(?:^|(?<=\s))([A-Z][A-Za-z0-9_:/.]*)=")
_RECORD_START = re.compile(r"^(JobId|NodeName|PartitionName|ReservationName)=")
# What scontrol prints on stdout when there is nothing to show.
_NOTHING = re.compile(r"^No \w+ in the system", re.I)


def show_job_command(job_id: str) -> str:
    """`scontrol -o show job <id>` (one line per record; an array gives several)."""
    return f"scontrol -o show job {shlex.quote(job_id)}"


def show_node_command(node: str | None = None) -> str:
    """`scontrol -o show node [<name or hostlist>]`."""
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
        """JobState of a job or State of a node, as printed (`MIXED+DRAIN`)."""
        return self.fields.get("JobState") or self.fields.get("State")

    @property
    def gres(self) -> str | None:
        """A node's Gres, or a job's TresPerNode (`gres:gpu:a6000:2`); None if unset."""
        value = self.fields.get("Gres") or self.fields.get("TresPerNode")
        return None if value in (None, "", "(null)", "N/A") else value

    def gpus(self) -> tuple[str | None, int]:
        """GPU type and count from `gres` (a node's total, a job's per node)."""
        return gres.gpus(self.gres or "")

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
        if not line.strip() or _NOTHING.match(line.strip()):
            fresh = True
            continue
        if fresh or _RECORD_START.match(line):
            blocks.append([line])
            fresh = False
        else:
            blocks[-1].append(line)
    return blocks
