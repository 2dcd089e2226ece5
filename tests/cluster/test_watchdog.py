"""The watchdog that runs with the job: alerts reach a webhook with the laptop gone, the
watcher costs little and leaves with the job, and the webhook's secrets stay out of
command lines, the stored script, the logs and accounting."""

from __future__ import annotations

import http.server
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

import rv_jupyter
from rv_jupyter.allocator.fanout import Allocator
from rv_jupyter.allocator.request import Request
from rv_jupyter.cluster.background import run_sync
from rv_jupyter.errors import RequestError
from rv_jupyter.facts.rivanna import RemotePaths
from rv_jupyter.telemetry import notify
from rv_jupyter.telemetry.rules import END_HINTS
from rv_jupyter.telemetry.watcher import FIELDS as WATCHER_FIELDS
from rv_jupyter.workspace.envstore import EnvStore
from tests.cluster.conftest import as_admin
from tests.cluster.test_segment_secrets import _processes_with, _slurm_copies_of

pytestmark = pytest.mark.usefixtures("no_jobs_left")

# The nodes live in network namespaces of their own; they reach this host over the
# bridge, at the address slurmctld listens on for them (SlurmctldHost=...(10.213.0.1)).
HOST_FROM_NODES = "10.213.0.1"

# Idle GPUs first, then one GPU nearly full, then a failure the watcher must report.
PAYLOAD = "sleep 25; rv-fake-load --util 60 --mem 48000M --gpu 0 --seconds 15; sleep 25; exit 3"

# The laptop: uploads the watcher, writes the env file, submits, says the job id, waits
# to be killed. Nothing of it is left once the job runs.
LAPTOP = r"""
import json, shlex, sys
import rv_jupyter
from rv_jupyter.facts.rivanna import RemotePaths
from rv_jupyter.jobs import envfiles
from rv_jupyter.jobs.script import JobSpec, render
from rv_jupyter.jobs.watch import Watcher
from rv_jupyter.cluster.background import run_sync
from rv_jupyter.telemetry.ship import aupload_watcher

args = json.loads(sys.stdin.readline())
cluster = rv_jupyter.connect(args["config"])
paths = RemotePaths(run_sync(cluster.auser()))
script = run_sync(aupload_watcher(cluster, paths))
stem = envfiles.request_stem(args["rid"])
text = "".join(f"{k}={shlex.quote(v)}\n" for k, v in args["env"].items())
cluster.run(envfiles.write_command(paths.env, stem), stdin=text)
cluster.run(f"mkdir -p {shlex.quote(paths.logs)}")
spec = JobSpec(
    name=args["name"], user=paths.user, command=("bash", "-c", args["payload"]),
    partition="gpu-a6000", gres="gpu:a6000:2", time_s=args["time_s"], nodes=args["nodes"],
    env_file=f"{paths.env}/{stem}.env",
    watch=Watcher(script=script, interval_s=2,
                  limits={"idle_for_s": 12, "memory_full_pct": 95},
                  su_per_gpu_hour=args.get("su", 0.0), gpus=2 * args["nodes"]),
)
job = cluster.run("sbatch --parsable", stdin=render(spec)).strip().split(";")[0]
print("JOB", job, flush=True)
sys.stdin.read()
"""


class _Inbox(http.server.BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[str, bytes, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.got.append((self.path, body, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _pids_with(needle: str) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and needle.encode() in (proc / "cmdline").read_bytes():
                out.append(int(proc.name))
        except OSError:
            pass
    return out


def _until(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"no {what} in {timeout:.0f} s"
        time.sleep(0.5)
    return found


def _laptop_submits(config: Path, env: dict[str, str], name: str, payload: str,
                    time_s: int, nodes: int = 1, su: float = 0.0) -> str:  # fmt: skip
    """Submit as a laptop would, then kill that laptop: the job id."""
    laptop = subprocess.Popen(
        [sys.executable, "-c", LAPTOP], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, cwd="/tmp",
    )  # fmt: skip
    assert laptop.stdin and laptop.stdout
    order = {"config": str(config), "rid": secrets.token_hex(6), "env": env, "name": name,
             "payload": payload, "time_s": time_s, "nodes": nodes, "su": su}  # fmt: skip
    laptop.stdin.write(json.dumps(order) + "\n")
    laptop.stdin.flush()
    line = "-"
    while line and not line.startswith("JOB "):
        line = laptop.stdout.readline()
    job = line.removeprefix("JOB ").strip()
    laptop.kill()  # the laptop is gone before the job even starts
    laptop.wait()
    assert job.isdigit(), job
    return job


def test_the_watchdog_alerts_with_the_laptop_gone_and_leaves_with_the_job(
    a_config_path: Path,
) -> None:
    _Inbox.got.clear()
    server = http.server.ThreadingHTTPServer((HOST_FROM_NODES, 0), _Inbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token = "hook-" + secrets.token_hex(12)
    key = notify.new_secret()
    url = f"http://{HOST_FROM_NODES}:{server.server_port}/{token}"
    env = notify.to_env([notify.Channel("inbox", "json", url)], key)
    name = f"watch-{secrets.token_hex(3)}"
    job = _laptop_submits(a_config_path, env, name, PAYLOAD, 600)
    try:
        watcher = _until("watcher", lambda: _pids_with(f"--job\0{job}\0"), 60)[0]
        smi = _until("nvidia-smi", lambda: [
            p for p in _pids_with("--query-gpu=") if Path(f"/proc/{p}/stat").read_text()
            .rsplit(")", 1)[1].split()[1] == str(watcher)
        ], 15)[0]  # fmt: skip
        # What one watcher costs, over a minute of its life (idle, then alerting).
        t0, w0, s0 = time.monotonic(), _cpu_ticks(watcher), _cpu_ticks(smi)
        live_leaks = [p for p in _processes_with(token.encode()) if "cmdline" in p]
        script = subprocess.run(["scontrol", "write", "batch_script", job, "-"],
                                capture_output=True, text=True).stdout  # fmt: skip
        time.sleep(60)
        w1, s1, t1 = _cpu_ticks(watcher), _cpu_ticks(smi), time.monotonic()
        hz = os.sysconf("SC_CLK_TCK")
        watcher_pct = 100 * (w1 - w0) / hz / (t1 - t0)
        smi_pct = 100 * (s1 - s0) / hz / (t1 - t0)
        print(f"watcher_cpu_pct={watcher_pct:.2f} nvidia_smi_cpu_pct={smi_pct:.2f} "
              f"over {t1 - t0:.0f} s")  # fmt: skip
        deadline = time.monotonic() + 120
        while as_admin("squeue", "-h", "-j", job, "-o", "%T").strip():
            assert time.monotonic() < deadline, "the job did not end"
            time.sleep(1)
        # The end's event is sent before the batch shell exits.
        events = [json.loads(body)["event"] for _, body, _ in _Inbox.got]
        kinds = [e["kind"] for e in events]
        messages = [e["message"] for e in events if e["kind"] == "alert"]
        signed = all(
            notify.verify(key.encode(), body, h[notify.TIMESTAMP_HEADER.lower()],
                          h[notify.SIGNATURE_HEADER.lower()])
            for _, body, h in _Inbox.got
        )  # fmt: skip
        started = events[0] if events else {}
        problems = {
            "first event is not started": kinds[:1] != ["started"],
            "started lacks node/GPUs": started.get("nodes") not in (["udc-a6k-1"], ["udc-a6k-2"])
            or started.get("gpus") != "0: NVIDIA RTX A6000, 1: NVIDIA RTX A6000",
            "no idle alert": not any("2 RTX A6000s of job " + job + " idle" in m
                                     for m in messages),
            "no memory alert": not any(m.startswith(f"GPU memory nearly full in job {job}: ")
                                       and " GPU 0 98 %" in m for m in messages),
            "last event is not the failure": kinds[-1:] != ["failed"]
            or (events[-1]["state"], events[-1]["exit_code"]) != ("FAILED", "3:0"),
            "unsigned events": not signed,
            "wrong path": {p for p, _, _ in _Inbox.got} != {f"/{token}"},
            "watcher processes left": _pids_with(f"--job\0{job}\0"),
            "nvidia-smi left": [p for p in _pids_with("--query-gpu=") if p == smi],
            "secret on a live command line": live_leaks,
            "secret in the batch script": [k for k in (token, key) if k in script],
            "secret stored by Slurm or in logs": _slurm_copies_of(token, [job])
            + _slurm_copies_of(key, [job]),
            "processes holding the secret": _processes_with(token.encode()),
            "watcher CPU >= 1 %": watcher_pct >= 1.0,
        }  # fmt: skip
        assert {k: v for k, v in problems.items() if v} == {}, events
        log = Path(f"/scratch/rvtest/.rv/logs/{name}-{job}.err").read_text()
        assert "rv-watch" not in log and "rv-notify" not in log, log
    finally:
        server.shutdown()
        for pid in _pids_with(f"--job\0{job}\0"):
            os.kill(pid, 9)


# The batch shell runs on the first node; the load goes to GPU 1 of the second.
TWO_NODES = (
    'second=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | tail -1); sleep 8; '
    'srun --overlap -w "$second" -N1 -n1 rv-fake-load --mem 48000M --gpu 1 --seconds 12; '
    "sleep 4"
)


def test_the_watchdog_of_a_two_node_job_watches_both_nodes(a_config_path: Path) -> None:
    _Inbox.got.clear()
    server = http.server.ThreadingHTTPServer((HOST_FROM_NODES, 0), _Inbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://{HOST_FROM_NODES}:{server.server_port}/hook-{secrets.token_hex(8)}"
    env = notify.to_env([notify.Channel("inbox", "json", url)], notify.new_secret())
    job = _laptop_submits(a_config_path, env, f"two-{secrets.token_hex(3)}", TWO_NODES, 600, 2,
                          su=36.0)  # fmt: skip
    try:

        def events() -> list[dict[str, Any]]:
            return [json.loads(body)["event"] for _, body, _ in _Inbox.got]

        _until("the end event", lambda: {"ended", "failed"} & {e["kind"] for e in events()}, 120)
        nodes = as_admin("sacct", "-X", "-n", "-P", "-o", "NodeList", "-j", job).strip()
        both = as_admin("scontrol", "show", "hostnames", nodes).split()
        got = events()
        started = got[0]
        assert started["kind"] == "started" and started["nodes"] == both, got
        assert all(f"{n} 0: NVIDIA RTX A6000" in started["gpus"] for n in both), started
        full = [e["message"] for e in got if e["kind"] == "alert" and "nearly full" in e["message"]]
        assert full and f"{both[1]} GPU 1 " in full[0] and both[0] not in full[0], got
        end = got[-1]  # 4 GPUs at 36 SU/h: 0.04 SU a second
        assert end["kind"] == "ended" and end["sus"] == pytest.approx(
            0.04 * end["elapsed_s"], abs=0.01
        ), end
        _until("the job's end", lambda: not as_admin("squeue", "-h", "-j", job, "-o", "%T")
               .strip(), 60)  # fmt: skip
        # Neither node keeps the watcher's nvidia-smi (its fields are its own).
        mine = "--query-gpu=" + ",".join(WATCHER_FIELDS)
        _until("no watcher sampler left", lambda: not _pids_with(mine), 30)
    finally:
        server.shutdown()
        for pid in _pids_with(f"--job\0{job}\0"):
            os.kill(pid, 9)


@pytest.mark.parametrize(
    ("how", "time_s", "state"), [("scancel", 600, "CANCELLED"), ("walltime", 60, "TIMEOUT")]
)
def test_a_job_ended_by_slurm_says_how(
    a_config_path: Path, how: str, time_s: int, state: str
) -> None:
    _Inbox.got.clear()
    server = http.server.ThreadingHTTPServer((HOST_FROM_NODES, 0), _Inbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    key = notify.new_secret()
    url = f"http://{HOST_FROM_NODES}:{server.server_port}/hook-{secrets.token_hex(8)}"
    env = notify.to_env([notify.Channel("inbox", "json", url)], key)
    job = _laptop_submits(a_config_path, env, f"end-{secrets.token_hex(3)}", "sleep 600", time_s)
    try:
        _until("started event", lambda: _Inbox.got, 60)
        if how == "scancel":
            subprocess.run(["scancel", job], check=True)

        def kinds() -> list[str]:
            return [json.loads(body)["event"]["kind"] for _, body, _ in _Inbox.got]

        _until("end event", lambda: {"ended", "failed"} & set(kinds()), 150)
        _until("the job's end", lambda: not as_admin("squeue", "-h", "-j", job, "-o", "%T")
               .strip(), 60)  # fmt: skip
        time.sleep(2)
        last = json.loads(_Inbox.got[-1][1])["event"]
        assert (last["kind"], last["state"]) == ("failed", state), last
        # A one-minute job is inside its ten-minute warning from the start.
        assert ("walltime" in kinds()) == (how == "walltime"), kinds()
        hint = END_HINTS[state]
        assert last["message"] == hint[0].upper() + hint[1:] + ".", last
        assert not _pids_with(f"--job\0{job}\0"), "the watcher outlived the job"
    finally:
        server.shutdown()
        for pid in _pids_with(f"--job\0{job}\0"):
            os.kill(pid, 9)


@pytest.fixture
def a_config_of_its_own(
    a_config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A copy of the mini-Rivanna's config, so its env store (beside it) is the test's."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(a_config_path.read_text())
    monkeypatch.setenv("RV_CONFIG", str(cfg))
    return cfg


def test_watch_without_a_channel_is_refused_before_anything_is_submitted(
    a_config_of_its_own: Path,
) -> None:
    cluster = rv_jupyter.connect(str(a_config_of_its_own))
    req = Request.build(gpus=1, gpu_type="a6000", time="10m", name="unheard", watch=True)
    with pytest.raises(RequestError, match="none is configured"):
        run_sync(Allocator(cluster).allocate(req, timeout_s=30))
    assert not as_admin("squeue", "-h", "-n", "unheard", "-o", "%i").strip()


def test_a_watched_allocation_says_where_it_started(a_config_of_its_own: Path) -> None:
    _Inbox.got.clear()
    server = http.server.ThreadingHTTPServer((HOST_FROM_NODES, 0), _Inbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token = "hook-" + secrets.token_hex(12)
    store = EnvStore()  # beside the test's config
    store.set(notify.ENV_CHANNELS, "inbox:json")
    url = f"http://{HOST_FROM_NODES}:{server.server_port}/{token}"
    store.set(notify.url_var("inbox"), url, secret=True)
    cluster = rv_jupyter.connect(str(a_config_of_its_own))
    req = Request.build(gpus=1, gpu_type="a6000", time="10m", name="watched", watch=True)
    alloc = run_sync(Allocator(cluster).allocate(req, timeout_s=60))
    try:

        def started() -> list[dict[str, Any]]:
            events = [json.loads(body)["event"] for _, body, _ in _Inbox.got]
            return [e for e in events if e["kind"] == "started"]

        (event,) = _until("the start event", started, 60)
        assert event["job_id"] == alloc.job_id and event["nodes"] == [alloc.node_list]
        _, body, headers = _Inbox.got[0]
        key = store.signing_secret().encode()
        assert notify.verify(key, body, headers[notify.TIMESTAMP_HEADER.lower()],
                             headers[notify.SIGNATURE_HEADER.lower()])  # fmt: skip
        # The channels' env file was the winner's to read and delete.
        env_dir = RemotePaths(run_sync(cluster.auser())).env
        left = cluster.run(f"ls {env_dir} 2>/dev/null; true")
        assert f"t-{req.request_id}.env" not in left
        # Only the watcher holds the channels (in its environment, 0600 to the user);
        # what it starts (nvidia-smi, squeue, sacct) does not.
        watcher = _pids_with(f"--job\0{alloc.job_id}\0")
        holders = [int(p.split()[0]) for p in _processes_with(token.encode())]
        assert watcher and set(holders) <= set(watcher), (holders, watcher)
    finally:
        alloc.cancel()
        server.shutdown()
