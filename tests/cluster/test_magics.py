"""The magics in a real IPython shell against the mini-Rivanna."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError

from rv_jupyter.allocator.allocation import Allocation
from rv_jupyter.allocator.cost import CostEstimate
from rv_jupyter.slurm.state import ClusterState

pytestmark = pytest.mark.usefixtures("no_jobs_left")


@pytest.fixture
def rv(a_shell, a_config_path: Path):  # type: ignore[no-untyped-def]
    """Run `%<magic> <line>` with the mini-Rivanna's config."""
    return lambda magic, line="": a_shell.run_line_magic(magic, f"{line} --config {a_config_path}")


@pytest.mark.parametrize("name", ["rv", "rv_jupyter"])
def test_load_ext_registers_the_magics(a_shell, name: str) -> None:  # type: ignore[no-untyped-def]
    a_shell.run_line_magic("load_ext", name)
    line = a_shell.magics_manager.magics["line"]
    assert {"rv_status", "rv_up", "rv_ps", "rv_stop", "rv_cost", "rv_logs"} <= set(line)


def test_status_is_the_cluster_state(rv) -> None:  # type: ignore[no-untyped-def]
    state = rv("rv_status", "--once")
    assert isinstance(state, ClusterState)
    assert any(g.partition == "gpu-mig" for g in state.gpus)
    panel = rv("rv_status")
    try:
        deadline = time.monotonic() + 20
        while panel.shown is None:
            assert time.monotonic() < deadline, "the panel never got a snapshot"
            time.sleep(0.1)
        assert "gpu-mig" in panel.gpus.value and "SU balance" in panel.money.value
    finally:
        panel.close()


def test_up_ps_logs_stop_round_trip(rv) -> None:  # type: ignore[no-untyped-def]
    alloc = rv("rv_up", "--mig --time 10m --name magic-up")
    assert isinstance(alloc, Allocation) and alloc.partition == "gpu-mig"
    assert rv("rv_up", "--mig --time 10m") is alloc, "a live allocation is reused"
    jobs = rv("rv_ps")
    assert isinstance(jobs, pd.DataFrame)
    row = jobs[jobs["id"] == alloc.job_id].iloc[0]
    assert (row["state"], row["gpus"], row["node"]) == ("running", 1, "udc-mig-1")
    assert isinstance(rv("rv_logs", alloc.job_id), str)
    stopped = rv("rv_stop", alloc.job_id)
    assert list(stopped["cancelled"]) == [alloc.job_id]


def test_dry_run_and_cost_submit_nothing(rv) -> None:  # type: ignore[no-untyped-def]
    plan = rv("rv_up", "--gpu 2 --time 1h --dry-run")
    assert isinstance(plan, pd.DataFrame) and len(plan) >= 2
    assert "mig" in plan.attrs["skipped"]
    cost = rv("rv_cost", "--gpu 2 --type a6000 --time 2h")
    assert isinstance(cost, CostEstimate)
    assert round(cost.dearest, 2) == round(142.73 * 2 * 2, 2)
    assert cost.balance is not None
    assert rv("rv_ps").empty


@pytest.mark.parametrize(
    ("magic", "line", "message"),
    [
        ("rv_up", "--gpu 5 --type h200 --time 1h", "at most 4 per user"),
        ("rv_up", "--type rtx3090 --time 13h", "allows 12 h"),
        ("rv_up", "--time soon", "Cannot read the time"),
        ("rv_up", "--type b300", "unknown GPU type"),
        ("rv_up", "--gpu many", "invalid int value"),
        ("rv_stop", "", "Name the jobs"),
        ("rv_stop", "999999", "Not among your queued or running jobs: 999999"),
        ("rv_cost", "--gpu 40", "at most 32 GPUs"),
        ("rv_logs", "999999", "No job 999999 is queued or running"),
    ],
)
def test_bad_input_is_one_line_usage_error(rv, magic: str, line: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as err:
        rv(magic, line)
    assert message in str(err.value)
    assert rv("rv_ps").empty, "nothing may be submitted by a bad request"


def test_missing_config_is_a_usage_error(a_shell, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="No rv config"):
        a_shell.run_line_magic("rv_status", f"--config {tmp_path / 'missing.toml'}")


def test_json_output_is_machine_readable(rv) -> None:  # type: ignore[no-untyped-def]
    import json

    state = json.loads(rv("rv_status", "--json"))
    assert {g["partition"] for g in state["gpus"]} >= {"gpu-mig", "gpu-a6000"}
    assert json.loads(rv("rv_ps", "--json")) == []


def test_logs_follow_streams_until_the_job_ends(  # type: ignore[no-untyped-def]
    rv, a_cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    user = a_cluster.run("id -un").strip()
    job = a_cluster.run(
        f"sbatch --parsable -p standard -t 2 -J follow --chdir=/scratch/{user} "
        f"-o /scratch/{user}/.rv/logs/%x-%j.out "
        "--wrap 'for i in 1 2 3; do echo line $i; sleep 1; done'"
    ).strip()
    t0 = time.monotonic()
    done = rv("rv_logs", f"{job} --follow")
    assert "left the queue" in done
    out = capsys.readouterr().out
    assert [ln for ln in out.splitlines() if ln.startswith("line")] == [
        "line 1",
        "line 2",
        "line 3",
    ]
    assert time.monotonic() - t0 < 60


MAGICS_WITH_ARGUMENTS = [
    ("line", "rv_status"), ("line", "rv_up"), ("line", "rv_ps"), ("line", "rv_stop"),
    ("line", "rv_cost"), ("line", "rv_logs"), ("line", "rv_env"), ("line", "rv_sync"),
    ("line", "rv_init"), ("line", "rv_forward"), ("line", "rv_kernelspec"), ("cell", "rv_run"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "magic"), MAGICS_WITH_ARGUMENTS)
def test_an_unbalanced_quote_is_one_line_in_every_magic(a_shell, kind: str, magic: str) -> None:  # type: ignore[no-untyped-def]
    line = "--name 'unclosed"
    with pytest.raises(UsageError) as err:
        if kind == "cell":
            a_shell.run_cell_magic(magic, line, "print(1)")
        else:
            a_shell.run_line_magic(magic, line)
    assert str(err.value).startswith("Cannot read the line: no closing quotation.")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("magic", "line"),
    [("rv_up", "--time {}"), ("rv_up", "--type {}"), ("rv_up", "--gpu {}"), ("rv_logs", "{}"),
     ("rv_stop", "{}"), ("rv_forward", "{} 80"), ("rv_sync", "pull ../{}"),
     ("rv_up", "--name '{} {}'")],
)  # fmt: skip
def test_an_error_echoes_at_most_a_line_of_a_long_input(rv, magic: str, line: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as err:
        rv(magic, line.replace("{}", "x" * 10_000))
    shown = str(err.value)
    assert len(shown) < 400, shown[:500]
    assert "x" * 100 not in shown and "..." in shown


def test_env_values_are_quoted_as_in_a_shell(  # type: ignore[no-untyped-def]
    a_shell, a_config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"  # env.json goes beside it, not beside the shared one
    config.write_text(a_config_path.read_text())
    monkeypatch.setenv("RV_CONFIG", str(config))
    listing = a_shell.run_line_magic("rv_env", "set GREETING 'a b'")
    assert listing.set_index("name").loc["GREETING", "value"] == "a b"
    a_shell.run_line_magic("rv_env", 'set QUOTED "it\'s \\"here\\""')
    from rv_jupyter.workspace.envstore import EnvStore

    assert "GREETING='a b'" in EnvStore().env_file()
    assert EnvStore().to_frame().set_index("name").loc["QUOTED", "value"] == 'it\'s "here"'


def test_help_texts_read_as_help(a_shell) -> None:  # type: ignore[no-untyped-def]
    up = a_shell.object_inspect_text("%rv_up")
    lines = [ln.strip() for ln in up.splitlines()]
    assert "::" not in lines, "IPython's RST marker leaks into %rv_up?"
    assert any(ln.startswith("Usage: %rv_up [--gpu GPU]") for ln in lines)
    forward = a_shell.object_inspect_text("%rv_forward")
    assert "started with --bind_all" not in forward and "no --bind_all" in forward


def test_ps_is_readable_and_raw_and_cost_marks_what_up_picks(rv) -> None:  # type: ignore[no-untyped-def]
    alloc = rv("rv_up", "--mig --time 10m --name ps-view")
    jobs = rv("rv_ps")
    row = jobs[jobs["id"] == alloc.job_id].iloc[0]
    assert pd.api.types.is_number(row["elapsed_s"]) and row["left_s"] > 60  # raw seconds
    html = jobs._repr_html_()
    assert "None" not in html and f">{alloc.job_id}<" in html.replace(" ", "")
    assert "elapsed_s" not in html and ">left<" in html
    assert "None" not in repr(jobs)
    cost = rv("rv_cost", "--gpu 2 --time 1h")
    frame = cost.to_frame()
    assert frame["%rv_up"].tolist()[0] == "★" and frame["%rv_up"].tolist().count("★") == 1
    assert all(" x " in g and "GPU" in g for g in frame["GPUs"])
    assert "★" in str(cost) and "x" not in "".join(frame["GPUs"]).replace(" x ", "")


def test_a_failed_request_leaves_no_probing_line_above_its_error(rv, a_shell) -> None:  # type: ignore[no-untyped-def]
    shown: list[tuple[str, bool]] = []
    publish = a_shell.display_pub.publish

    def record(data, metadata=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        shown.append((data.get("text/plain", ""), bool(kwargs.get("update"))))
        return publish(data, metadata, *args, **kwargs)

    a_shell.display_pub.publish = record
    try:
        with pytest.raises(UsageError, match="you asked 5000 GB"):
            rv("rv_up", "--gpu 1 --type a6000 --mem 5000G --time 10m")
    finally:
        a_shell.display_pub.publish = publish
    assert shown and "probing the queue" in shown[0][0]
    assert shown[-1] == ("", True), "the progress line was not taken away"
