"""squeue's brief reads: a request's jobs by tag, which ids are still listed, a state."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from rv_jupyter.jobs import JobSpec, render
from rv_jupyter.slurm import JobState, squeue
from rv_jupyter.slurm.squeue import TaggedJob
from tests.unit.slurm.fake_bin import HOSTILE, FakeSlurm, fake_slurm


def test_tagged_is_exact() -> None:
    assert squeue.TAGGED == "squeue --local -h --me -o '%i %k %T %P'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("11 rv:ab12:0 PENDING gpu-a6000\n", [TaggedJob("11", 0, JobState.pending, "gpu-a6000")]),
        (
            "11 rv:ab12:0 PENDING gpu-a6000\n12 rv:ab12:3 RUNNING gpu-a100\n",
            [TaggedJob("11", 0, JobState.pending, "gpu-a6000"),
             TaggedJob("12", 3, JobState.running, "gpu-a100")],
        ),
        # Another request whose tag starts the same, a tag further in, no comment at all.
        ("13 rv:ab123:0 PENDING gpu\n15 xrv:ab12:0 PENDING gpu\n14 (null) RUNNING std\n", []),
        # Someone's hand-made comment in our form with no rank: kept, rank unknown.
        ("16 rv:ab12:x CONFIGURING gpu\n", [TaggedJob("16", None, JobState.configuring, "gpu")]),
        ("17 rv:ab12:1\n", [TaggedJob("17", 1, JobState.unknown, "")]),
    ],
)  # fmt: skip
def test_parse_tagged(text: str, expected: list[TaggedJob]) -> None:
    assert squeue.parse_tagged(text, "rv:ab12") == expected


def test_tagged_ids_prints_the_request_jobs(tmp_path: Path) -> None:
    slurm = fake_slurm(tmp_path)
    slurm.queue("11 rv:ab12:0 PENDING a\n13 rv:ab123:0 PENDING a\n12 rv:ab12:1 RUNNING b\n")
    assert slurm.run(squeue.tagged_ids("rv:ab12")).split() == ["11", "12"]


@pytest.mark.parametrize(
    ("ids", "states", "expected"),
    [
        (["123"], (), "squeue --local -h -o %i -j 123 2>/dev/null"),
        (["1", "2_3"], ("PD", "R", "CF", "S"),
         "squeue --local -h -o %i -t PD,R,CF,S -j 1,2_3 2>/dev/null"),
        (["1 2"], (), "squeue --local -h -o %i -j '1 2' 2>/dev/null"),
    ],
)  # fmt: skip
def test_listed_is_exact(ids: list[str], states: tuple[str, ...], expected: str) -> None:
    assert squeue.listed(ids, states=states) == expected


def test_state_of_is_exact() -> None:
    assert squeue.state_of("123") == "squeue --local -h -o %T -j 123 2>/dev/null"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_ids_reach_squeue_as_one_word(tmp_path: Path, hostile: str) -> None:
    slurm = fake_slurm(tmp_path)
    word = hostile.format(canary=slurm.canary)
    slurm.run(f"{squeue.listed([word, '7'], states=[word])}; {squeue.state_of(word)}")
    assert slurm.calls("squeue") == [
        ["--local", "-h", "-o", "%i", "-t", word, "-j", f"{word},7"],
        ["--local", "-h", "-o", "%T", "-j", word],
    ]
    assert not slurm.canary.exists()


def sibling_check(claims: Path, rank: int) -> str:
    """The part of a job script that defers to running siblings or claims the request."""
    spec = JobSpec.model_validate(
        dict(name="train", user="abs6bd", command=("python", "t.py"), partition="gpu-a6000",
             time_s=3600, gres="gpu:a6000:1", cpus_per_task=4, mem_gb=32,
             tag="rv:ab12cd", rank=rank, claim_dir=str(claims / "ab12cd"))
    )  # fmt: skip
    lines = render(spec).splitlines()
    start = lines.index('if [ -z "${RV_ELAPSED_S:-}" ]; then')
    return "\n".join(lines[start : lines.index("fi", start) + 1]) + "\necho claimed\n"


def run_as_job(slurm: FakeSlurm, script: str, job_id: str) -> str:
    return slurm.run(f"SLURM_JOB_ID={job_id} bash -c {shlex.quote(script)}")


def test_a_job_script_reads_its_siblings_with_the_same_query(tmp_path: Path) -> None:
    script = sibling_check(tmp_path, rank=1)
    assert f"{squeue.TAGGED} | awk" in script and "squeue --me" not in script


def test_a_job_defers_to_a_better_ranked_running_sibling(tmp_path: Path) -> None:
    slurm = fake_slurm(tmp_path)
    slurm.queue("21 rv:ab12cd:0 RUNNING gpu-a100\n22 rv:ab12cd:1 RUNNING gpu-a6000\n")
    assert run_as_job(slurm, sibling_check(tmp_path, rank=1), "22") == ""
    assert slurm.calls("scancel") == [] and not (tmp_path / "ab12cd").exists()


def test_the_first_job_to_claim_cancels_its_siblings(tmp_path: Path) -> None:
    slurm = fake_slurm(tmp_path)
    slurm.queue(
        "21 rv:ab12cd:0 PENDING gpu-a100\n22 rv:ab12cd:1 RUNNING gpu-a6000\n"
        "23 rv:ab12cd:2 PENDING gpu-a40\n24 rv:ff0000:0 RUNNING gpu-h200\n"
    )
    assert run_as_job(slurm, sibling_check(tmp_path, rank=1), "22") == "claimed\n"
    assert slurm.calls("scancel") == [["21", "23"]]
    assert (tmp_path / "ab12cd" / "winner").read_text() == "22\n"
