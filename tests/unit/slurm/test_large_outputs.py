"""Whole-cluster outputs: the columnar read and the records agree on every row."""

from __future__ import annotations

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import JobState, parse_sinfo, parse_squeue, squeue
from rv_jupyter.slurm._table import columns, rows
from tests.unit.slurm.synth import sinfo_text, squeue_text


def test_10k_squeue_rows_read_the_same_by_column_and_by_record() -> None:
    text = squeue_text(10_000)
    jobs = parse_squeue(text)
    cols = squeue.columns(text)
    assert len(jobs) == len(cols["job_id"]) == 10_000
    for i in range(0, 10_000, 97):
        job = jobs[i]
        for field, values in cols.items():
            assert getattr(job, field) == values[i], (field, i)
    frame = squeue.read_frame(text)
    assert list(frame["gpus"]) == [j.gpus for j in jobs]
    # The shapes the generator mixes in are all there and read whole.
    ids = cols["job_id"]
    assert any("_[" in i for i in ids) and any(i.endswith("+0") for i in ids)
    assert "jupyter lab|notebook" in cols["name"]
    assert "ReqNodeNotAvail, Reserved for maintenance" in cols["reason"]
    assert {JobState.running, JobState.pending} <= set(cols["state"])


def test_columns_and_rows_agree_including_the_delimiter_in_the_last_field() -> None:
    text = "A|NAME|\n1|x|y|\n2| padded |\n"
    by_row = rows(text, command="t")
    assert columns(text, command="t") == {
        "A": [r["A"] for r in by_row], "NAME": [r["NAME"] for r in by_row],
    }  # fmt: skip
    assert columns(text, command="t")["NAME"] == ["x|y", "padded"]


def test_a_short_line_is_named_in_the_error() -> None:
    with pytest.raises(ParseError, match=r"'2\|b\|'"):
        columns("A|B|C|\n1|a|b|\n2|b|\n", command="squeue")


def test_an_empty_queue_has_the_required_columns_empty() -> None:
    assert columns("", command="t", required=("JOBID",)) == {"JOBID": []}
    assert squeue.columns("")["job_id"] == []
    assert list(squeue.read_frame("").columns)[:2] == ["job_id", "name"]


def test_5k_sinfo_rows_merge_partitions_per_node() -> None:
    text = sinfo_text(5_000)
    nodes = parse_sinfo(text)
    names = [n.name for n in nodes]
    assert len(names) == len(set(names))
    lines = text.splitlines()[1:]
    assert len(lines) == 5_000 and len(nodes) < 5_000
    rows_of: dict[str, set[str]] = {}
    for line in lines:
        name, partition = line.split("|")[:2]
        rows_of.setdefault(name, set()).add(partition.rstrip("*"))
    assert {n.name: set(n.partitions) for n in nodes} == rows_of
    assert any(len(p) == 2 for p in rows_of.values())
    assert all(n.gpus_used <= n.gpus_total for n in nodes)
    assert any(n.reason == "Not responding" for n in nodes)
