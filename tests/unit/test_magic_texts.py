"""What the magics say and show: pure formatting, recorded inputs."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from rv_jupyter.allocator.cost import CostEstimate
from rv_jupyter.allocator.strategies import Shape, Strategy
from rv_jupyter.cells.in_allocation import RunResult, read_values, srun_noise
from rv_jupyter.errors import ParseError
from rv_jupyter.facts import GPU_TYPES
from rv_jupyter.magics.common import echo_cut, split
from rv_jupyter.magics.display import cancelled_text, describe, topology
from rv_jupyter.magics.tables import CostTable, JobsFrame, hm, readable_jobs


@pytest.mark.parametrize(
    ("ids", "left", "text"),
    [
        (["2842", "2843"], [], "Cancelled: jobs 2842, 2843 (nothing left queued)"),
        (["2842"], [], "Cancelled: job 2842 (nothing left queued)"),
        (
            ["2842", "2843"],
            ["2843"],
            "Cancelled: jobs 2842, 2843; still queued: 2843 (`%rv_stop 2843`).",
        ),
        ([], [], "Cancelled before anything was submitted."),
        (None, [], "Cancelled; rv could not confirm in time that nothing is queued: see %rv_ps."),
    ],
)
def test_the_stop_button_is_said_in_one_line(
    ids: list[str] | None, left: list[str], text: str
) -> None:
    assert cancelled_text(ids, left) == text
    assert "\n" not in text


def a_strategy(gpu: str = "a6000", nodes: int = 1, per_node: int = 2) -> Strategy:
    return Strategy(Shape(GPU_TYPES[gpu], nodes, per_node), "direct", 7200, wait_s=0.0)


@pytest.mark.parametrize(
    ("nodes", "per_node", "text"),
    [(1, 2, "1 node x 2 GPUs"), (2, 4, "2 nodes x 4 GPUs"), (1, 1, "1 node x 1 GPU")],
)
def test_a_shape_is_said_in_words(nodes: int, per_node: int, text: str) -> None:
    assert topology(nodes, per_node) == text


def test_a_strategy_line_has_no_bare_1x2() -> None:
    line = describe(a_strategy())
    assert "1 node x 2 GPUs" in line and "1x2" not in line


def test_cost_marks_the_strategy_rv_up_expects_to_win() -> None:
    first, second = a_strategy("a6000"), a_strategy("a40")
    table = CostTable.of(CostEstimate([(first, 10.0), (second, 20.0)], "lab", 100.0))
    frame = table.to_frame()
    assert frame["%rv_up"].tolist() == ["★", ""]
    assert frame["GPUs"].tolist() == ["1 node x 2 GPUs"] * 2
    assert table.pick == first.key
    assert "★ the one %rv_up expects to start first" in str(table)
    assert str(table).splitlines()[0].startswith("★ ")
    assert "★" in table._repr_html_() and "1x2" not in table._repr_html_()
    assert isinstance(table, CostEstimate) and table.dearest == 20.0


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00"), (59, "0:00"), (300, "0:05"),
                                               (3 * 3600 + 61, "3:01"), (26 * 3600, "26:00"),
                                               (None, "")])  # fmt: skip
def test_times_read_as_hours_and_minutes(seconds: int | None, text: str) -> None:
    assert hm(seconds) == text


def some_jobs() -> JobsFrame:
    frame = pd.DataFrame(
        [
            {"id": "268", "name": "rv", "gpus": 1, "gpu_type": "mig", "node": "udc-mig-1",
             "state": "running", "elapsed_s": 65, "left_s": 535,
             "start": datetime(2026, 12, 1, 16, 40, 5), "reason": "None"},
            {"id": "269", "name": "rv", "gpus": 2, "gpu_type": "a6000", "node": None,
             "state": "pending", "elapsed_s": 0, "left_s": 7200, "start": None,
             "reason": "Resources"},
        ]
    )  # fmt: skip
    return JobsFrame(frame)


def test_rv_ps_shows_a_table_a_person_reads_and_keeps_raw_values_for_code() -> None:
    jobs = some_jobs()
    assert jobs["elapsed_s"].tolist() == [65, 0]  # raw, for code
    assert isinstance(jobs, pd.DataFrame) and not isinstance(jobs[jobs.gpus > 1], JobsFrame)
    shown = readable_jobs(jobs)
    assert shown.columns.tolist()[:3] == ["job", "name", "GPUs"]
    assert shown["elapsed"].tolist() == ["0:01", "0:00"]
    assert shown["left"].tolist() == ["0:08", "2:00"]
    assert shown["reason"].tolist() == ["", "Resources"]
    assert shown["node"].tolist() == ["udc-mig-1", ""]
    assert shown["start"].tolist() == ["2026-12-01 16:40", ""]
    html = jobs._repr_html_()
    assert "None" not in html and "535" not in html and "<th" in html
    assert ">0<" not in html.replace(" ", ""), "no index column"
    text = repr(jobs)
    assert "None" not in text and text.splitlines()[0].split()[0] == "job"
    assert repr(JobsFrame(jobs.iloc[0:0])) == "No jobs of yours are queued or running."


def a_result(**kw: object) -> RunResult:
    base: dict[str, object] = dict(job_id="268", exit_code=0, elapsed_s=0.12, sus=0.0,
                                   workspace="/scratch/u/rv-workspaces/p", logs="l",
                                   checkpoints="c")  # fmt: skip
    return RunResult(**{**base, **kw})  # type: ignore[arg-type]


def test_a_cell_in_a_kept_allocation_says_the_job_keeps_running() -> None:
    line = str(a_result(job_goes_on=True)).splitlines()[0]
    assert line == (
        "Cell finished in job 268 in 0.1 s, 0.00 SUs (the job keeps running: `%rv_stop 268`)."
    )
    failed = str(a_result(exit_code=1, job_goes_on=True)).splitlines()[0]
    assert failed.startswith("Cell failed in job 268 (exit 1) in 0.1 s")
    assert "`%rv_stop 268`" in failed


def test_a_cell_in_its_own_job_says_the_job_has_ended() -> None:
    line = str(a_result()).splitlines()[0]
    assert line == "Cell finished in job 268 in 0.1 s, 0.00 SUs; the job has ended."


@pytest.mark.parametrize(
    ("line", "noise"),
    [
        ("srun: error: udc-mig-1: task 0: Exited with exit code 1\n", True),
        ("srun: error: udc-a6000-1: tasks 0-1: Exited with exit code 3\n", True),
        ("srun: error: Unable to create step for job 12: Job/step already completing\n", False),
        ("ValueError: exit code 1\n", False),
    ],
)
def test_only_sruns_exit_note_is_dropped(line: str, noise: bool) -> None:
    assert srun_noise(line) is noise


@pytest.mark.parametrize("text", ["{not json", '{"values": 1}', "[]", '{"values": {}}'])
def test_unreadable_out_values_are_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match=r"--out values in /ws/\.rv-cells/a\.json are unreadable"):
        read_values(text, "/ws/.rv-cells/a.json")


def test_out_values_are_read() -> None:
    got = read_values('{"values": {"x": 1}, "problems": {"f": "function"}}', "p")
    assert got == ({"x": 1}, {"f": "function"})


def test_what_an_error_echoes_of_the_line_is_cut() -> None:
    word = "x" * 10_000
    message = f"Cannot read the time {word!r}.\n  → Write it like 2h."
    cut = echo_cut(message, f"--time {word}")
    assert len(cut) < 150 and "x" * 77 + "..." in cut and cut.endswith("Write it like 2h.")
    assert echo_cut("short 'abc'", "--time abc") == "short 'abc'"
    spaced = "a " * 3000
    assert len(echo_cut(f"bad {spaced!r}", f"--name '{spaced}'")) < 150


def test_the_line_is_split_as_a_shell_would_and_windows_paths_stay_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert split("set X 'a b' \"c d\"") == ["set", "X", "a b", "c d"]
    assert split('set Q "it\'s"') == ["set", "Q", "it's"]
    monkeypatch.setattr("rv_jupyter.magics.common.os.name", "nt")
    assert split(r"--config C:\Users\me\rv.toml") == ["--config", r"C:\Users\me\rv.toml"]
