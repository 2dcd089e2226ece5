"""The in-job watcher's pure parts, its bash lines, its bundle, and one run as a lone file."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from rv_jupyter.jobs.script import JobSpec, render
from rv_jupyter.jobs.watch import Watcher
from rv_jupyter.telemetry import node_facts, notify, ship, watcher
from rv_jupyter.telemetry.rules import Gpu, Limits
from rv_jupyter.telemetry.watcher import Batches, final_event, parse_limits, parse_row


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("0, NVIDIA A100-SXM4-80GB, 97, 1024, 81920",
         (Gpu("n", 0, 97.0, 1024.0, 81920.0), "NVIDIA A100-SXM4-80GB")),
        ("3, NVIDIA A100 MIG 1g.10gb, [N/A], 37, 9728",
         (Gpu("n", 3, None, 37.0, 9728.0), "NVIDIA A100 MIG 1g.10gb")),
        ("1, NVIDIA RTX A6000, [Not Supported], [Unknown Error], 49140",
         (Gpu("n", 1, None, None, 49140.0), "NVIDIA RTX A6000")),
        ("index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB]", None),
        ("Failed to initialize NVML: Driver/library version mismatch", None),
        ("", None),
    ],
)  # fmt: skip
def test_rows_parse_with_unavailable_values_as_none(line: str, want: object) -> None:
    assert parse_row(line, "n") == want


def _g(i: int) -> Gpu:
    return Gpu("n", i, 0.0, 0.0, 1.0)


def test_batches_end_when_an_index_comes_back_or_on_a_pause() -> None:
    b = Batches()
    assert [b.add(_g(0)), b.add(_g(1))] == [None, None]
    assert b.add(_g(0)) == [_g(0), _g(1)]
    assert b.flush() == [_g(0)]
    assert b.flush() is None


@pytest.mark.parametrize(
    ("status", "slurm", "left", "want"),
    [
        ("0\n", None, 500.0, ("ended", "COMPLETED", "0:0", "")),
        ("3\n", None, 500.0, ("failed", "FAILED", "3:0", "")),
        ("137\n", None, 500.0, ("failed", "FAILED", "0:9", "")),
        ("resubmitted 42\n", None, 5.0, ("resubmitted", "", "", "The next segment is job 42.")),
        ("", ("TIMEOUT", "0:0"), 5.0, ("failed", "TIMEOUT", "0:0", "")),
        ("", ("CANCELLED by 1000", "0:15"), 500.0, ("failed", "CANCELLED", "0:15", "")),
        ("", ("RUNNING", "0:0"), 30.0, ("failed", "TIMEOUT", "", "")),
        ("", None, 500.0, ("failed", "CANCELLED", "", "")),
        ("", None, None, ("failed", "CANCELLED", "", "")),
    ],
)  # fmt: skip
def test_the_end_is_told_by_the_shell_else_by_slurm_else_by_the_clock(
    status: str, slurm: tuple[str, str] | None, left: float | None, want: tuple[str, ...]
) -> None:
    if slurm:
        slurm = (slurm[0].split()[0], slurm[1])  # as slurm_end gives it
    assert final_event(status, slurm=slurm, left_s=left) == want


def test_limits_come_from_pairs_and_unknown_names_are_refused() -> None:
    assert parse_limits(["idle_for_s=60", "memory_full_pct=90"]) == Limits(
        idle_for_s=60, memory_full_pct=90
    )
    with pytest.raises(SystemExit, match="unknown limit 'idle'"):
        parse_limits(["idle=3"])
    with pytest.raises(SystemExit, match="needs a number"):
        parse_limits(["idle_for_s=soon"])


def _spec(**kw: object) -> JobSpec:
    base: dict[str, object] = dict(
        name="w", user="rvtest", command=("python3", "x.py"), partition="gpu", time_s=600,
        env_file="/scratch/rvtest/.rv/env/t-abc123.env",
        watch=Watcher(script="/home/rvtest/.rv/watch-1/watcher.py", limits={"idle_for_s": 60}),
    )  # fmt: skip
    return JobSpec.model_validate({**base, **kw})


def test_only_the_watcher_gets_the_notification_values() -> None:
    lines = render(_spec()).splitlines()
    watcher = next(ln for ln in lines if "watcher.py" in ln)
    payload = next(ln for ln in lines if "x.py" in ln)
    assert 'eval "$rv_env_text"' in watcher and "unset" not in watcher
    assert "unset ${!RV_NOTIFY_@};" in payload
    assert "--limit idle_for_s=60 " in watcher and watcher.endswith("< /dev/null &")


def test_the_watcher_is_told_the_end_and_ended_by_every_exit() -> None:
    text = render(_spec())
    # Started after the traps that end it; told the payload's status on a normal end.
    assert text.index("trap rv_end EXIT") < text.index("watcher.py") < text.index("x.py")
    assert text.rstrip().endswith('rv_watch_end "$rv_status"\nexit "$rv_status"')
    assert "  rv_watch_end\n  return 0" in text
    ckpt = render(_spec(kind="checkpoint", checkpoint={"total_s": 3600}))
    assert 'rv_watch_end "resubmitted ${rv_next%%;*}"\n  exit 0' in ckpt


def test_no_watch_no_watcher_lines() -> None:
    assert "rv_w" not in render(_spec(watch=None))


def test_an_unknown_watcher_field_is_one_line() -> None:
    with pytest.raises(Exception, match="Unknown Watcher field 'scirpt'"):
        Watcher.model_validate({"scirpt": "x"})


def test_the_bundle_is_stable_and_holds_the_three_files(tmp_path: Path) -> None:
    files = ship.sources()
    digest, data = ship.bundle(files)
    assert ship.bundle(dict(reversed(list(files.items())))) == (digest, data)
    assert ship.bundle({**files, "rules.py": files["rules.py"] + "#"})[0] != digest
    (tmp_path / "b.b64").write_text(data)
    subprocess.run("base64 -d < b.b64 | tar -x", shell=True, cwd=tmp_path, check=True)
    assert {p.name for p in tmp_path.glob("*.py")} == set(ship.FILES)


# -- one run, as on a node: the four files alone, a looping fake nvidia-smi ---------

FAKE_SMI = """#!/bin/sh
while :; do
  echo "0, NVIDIA RTX A6000, 1, 48000, 49140"
  echo "1, NVIDIA RTX A6000, 0, 10, 49140"
  sleep 1
done
"""


class _Inbox(http.server.BaseHTTPRequestHandler):
    got: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = notify.verify(b"k" * 16, body, self.headers[notify.TIMESTAMP_HEADER],
                           self.headers[notify.SIGNATURE_HEADER])  # fmt: skip
        self.got.append({**json.loads(body)["event"], "signed": ok})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_lone_watcher_sends_started_alerts_and_the_end(tmp_path: Path) -> None:
    for name, text in ship.sources().items():
        (tmp_path / name).write_text(text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(FAKE_SMI)
    (bin_dir / "nvidia-smi").chmod(0o755)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Inbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    status = tmp_path / "status"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        **notify.to_env(
            [notify.Channel("inbox", "json", f"http://127.0.0.1:{server.server_port}/hook")],
            "k" * 16,
        ),
    }
    py = shutil.which("python3") or sys.executable
    proc = subprocess.Popen(
        [py, "watcher.py", "--job", "77", "--name", "t", "--status", str(status),
         "--interval", "1", "--limit", "idle_for_s=2", "--limit", "memory_full_pct=95",
         "--su-per-gpu-hour", "3600", "--gpus", "2"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while len(_Inbox.got) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        status.write_text("0\n")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.kill()
        server.shutdown()
    got = _Inbox.got
    assert got[0]["kind"] == "started"
    assert got[0]["gpus"] == "0: NVIDIA RTX A6000, 1: NVIDIA RTX A6000"
    alerts = [str(e["message"]) for e in got if e["kind"] == "alert"]
    assert any(m.startswith("GPU memory nearly full in job 77: ") for m in alerts), alerts
    assert any(m.startswith("2 RTX A6000s of job 77 idle for 0 min, costing 7,200 SU/h")
               for m in alerts), alerts  # fmt: skip
    end = got[-1]
    assert end["kind"] == "ended" and end["state"] == "COMPLETED"
    # Two GPUs at one SU per GPU-second, for the seconds the watcher saw.
    assert end["sus"] == pytest.approx(2 * float(end["elapsed_s"]), abs=0.01)
    assert float(end["elapsed_s"]) >= 2
    assert all(e["signed"] for e in got)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".pyc")]


@pytest.mark.parametrize("name", ship.FILES)
def test_the_shipped_files_parse_as_python_3_8(name: str) -> None:
    import ast

    ast.parse(ship.sources()[name], feature_version=(3, 8))


def test_alerts_in_the_config_give_the_watchers_limits() -> None:
    from rv_jupyter.config import parse

    cfg = parse("[alerts]\nwatch = true\nidle_min = 5\nmemory_full_pct = 90\n")
    assert cfg.alerts.watch is True
    assert cfg.alerts.limits() == {
        "idle_util_pct": 5.0, "idle_for_s": 300.0, "memory_full_pct": 90.0,
        "silent_for_s": 1800.0, "walltime_warn_s": 600.0,
    }  # fmt: skip
    assert parse("").alerts.watch is False
    assert Limits(**parse("").alerts.limits()) == Limits()  # the same defaults as the rules


def test_a_bad_alert_threshold_is_one_line() -> None:
    from rv_jupyter.config import parse
    from rv_jupyter.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse("[alerts]\nmemory_full_pct = 150\n")
    first, hint = str(e.value).split("\n")
    assert "memory_full_pct" in first and "150" in first and "[alerts]" in hint


def test_a_request_carries_watch() -> None:
    from rv_jupyter.allocator.request import Request

    assert Request.build(watch=True).watch is True
    assert Request.build().watch is False


@pytest.mark.parametrize(
    ("length", "want"),
    [(None, 600.0), (0.0, 600.0), (3600.0, 600.0), (1200.0, 240.0), (60.0, 12.0)],
)
def test_the_walltime_warning_comes_at_most_a_fifth_of_the_job_before_its_end(
    length: float | None, want: float
) -> None:
    from rv_jupyter.telemetry.watcher import warn_limits

    assert warn_limits(Limits(), length).walltime_warn_s == want


def test_a_multi_node_job_is_sampled_by_one_labelled_step_on_every_node() -> None:
    nodes = ["udc-a1", "udc-a2"]
    argv = watcher.sampler_argv("9", 10, nodes)
    assert argv[:7] == ["srun", "--jobid=9", "--overlap", "--nodes=2", "--ntasks-per-node=1",
                        "--label", "--unbuffered"]  # fmt: skip
    assert watcher.sampler_argv("9", 10, [])[0] == "nvidia-smi"
    row = parse_row(" 1: 0, NVIDIA A100-SXM4-80GB, 97, 100, 81920", "batch", nodes)
    assert row and row[0] == Gpu("udc-a2", 0, 97.0, 100.0, 81920.0)
    assert parse_row("2: 0, X, 1, 1, 1", "batch", nodes) is None  # no such task
    assert parse_row("srun: error: ...", "batch", nodes) is None


def test_batches_of_two_nodes_keep_the_same_index_apart() -> None:
    b = Batches()
    a, c = Gpu("a", 0, 1.0, 0.0, 1.0), Gpu("c", 0, 1.0, 0.0, 1.0)
    assert [b.add(a), b.add(c)] == [None, None]
    assert b.add(a) == [a, c]


def _cgroup(tmp_path: Path, line: str, files: dict[str, str]) -> tuple[str, str]:
    (tmp_path / "self-cgroup").write_text(line + "\n")
    for rel, text in files.items():
        (tmp_path / "fs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fs" / rel).write_text(text)
    return str(tmp_path / "self-cgroup"), str(tmp_path / "fs")


def test_oom_kills_are_read_from_the_jobs_cgroup_v2(tmp_path: Path) -> None:
    job = "system.slice/slurmstepd.scope/job_7"
    events = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n"
    where = _cgroup(tmp_path, f"0::/{job}/step_batch/user/task_0",
                    {f"{job}/memory.events": events})  # fmt: skip
    assert node_facts.oom_kills("7", *where) == 1
    assert node_facts.oom_kills("8", *where) is None  # not this job's cgroup


def test_oom_kills_are_summed_over_the_steps_in_cgroup_v1(tmp_path: Path) -> None:
    job = "memory/slurm/uid_1000/job_7"
    ctl = "oom_kill_disable 0\nunder_oom 0\noom_kill {}\n"
    lines = "12:pids:/slurm/uid_1000/job_7/step_batch\n4:memory:/slurm/uid_1000/job_7/step_batch"
    where = _cgroup(tmp_path, lines, {
        f"{job}/memory.oom_control": ctl.format(0),
        f"{job}/step_batch/memory.oom_control": ctl.format(1),
        f"{job}/step_0/memory.oom_control": ctl.format(2),
    })  # fmt: skip
    assert node_facts.oom_kills("7", *where) == 3


def test_no_memory_cgroup_is_no_answer(tmp_path: Path) -> None:
    assert (
        node_facts.oom_kills("7", *_cgroup(tmp_path, "0::/user.slice/session-3.scope", {})) is None
    )
    assert node_facts.oom_kills("7", str(tmp_path / "absent"), str(tmp_path)) is None


def test_a_payload_killed_by_the_oom_killer_ends_as_out_of_memory() -> None:
    assert final_event("137\n", slurm=None, left_s=500.0, oom=True) == (
        "failed", "OUT_OF_MEMORY", "0:9", "",
    )  # fmt: skip
    assert final_event("0\n", slurm=None, left_s=500.0, oom=True)[1] == "COMPLETED"
