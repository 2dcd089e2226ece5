"""Fixtures for tests against the local mini-Rivanna (tests/cluster/up).

These tests talk to a real Slurm over a real OpenSSH server as the non-root test user.
The harness itself runs as root on the same machine, so it may also look behind the
scenes (sdiag, the stand-ins' data files) the way an admin would.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rv_jupyter import config as rv_config

MINI = Path(os.environ.get("RV_MINI", "/var/lib/rv-mini"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def a_config_path() -> Path:
    """The mini-Rivanna's rv config, as printed by tests/cluster/up."""
    path = os.environ.get("RV_CONFIG")
    if not path or not Path(path).exists():
        pytest.fail(
            "RV_CONFIG does not point at the mini-Rivanna's config; start it with "
            "`RV_CONFIG=$(sudo tests/cluster/up | tail -1)` or run scripts/test."
        )
    return Path(path)


@pytest.fixture(scope="session")
def a_config(a_config_path: Path) -> rv_config.RvConfig:
    """The parsed config of the mini-Rivanna."""
    return rv_config.load(a_config_path)


@pytest.fixture
def a_config_variant(a_config_path: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a changed copy of the mini-Rivanna config: variant(connection={"port": 1})."""

    def variant(**sections: dict[str, object]) -> Path:
        cfg = rv_config.load(a_config_path)
        for section, values in sections.items():
            for key, value in values.items():
                setattr(getattr(cfg, section), key, value)
        out = tmp_path / f"variant-{len(list(tmp_path.iterdir()))}.toml"
        shutil.copy(a_config_path, out)
        rv_config.save(cfg, out)
        return out

    return variant


def as_admin(*argv: str) -> str:
    """Run a Slurm admin command locally as root (the harness, not the product)."""
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30).stdout


def rpc_count_of(user: str) -> int:
    """slurmctld's count of RPCs from `user` so far (sdiag's per-user statistics)."""
    out = as_admin("sdiag")
    m = re.search(rf"^\s*{re.escape(user)}\s*\(\s*\d+\)\s*count:(\d+)", out, re.M)
    return int(m.group(1)) if m else 0


def rpc_counts_by_type() -> dict[str, int]:
    """slurmctld's RPC counts per message type so far."""
    out = as_admin("sdiag")
    section = out.split("Remote Procedure Call statistics by message type", 1)[1]
    section = section.split("Remote Procedure Call statistics by user", 1)[0]
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"(\w+)\s*\(\s*\d+\)\s*count:(\d+)", section)
    }


@pytest.fixture
def a_cluster(a_config_path: Path):  # type: ignore[no-untyped-def]
    """The product's handle on the mini-Rivanna."""
    import rv_jupyter

    return rv_jupyter.connect(str(a_config_path))


@pytest.fixture
def no_jobs_left(a_config: rv_config.RvConfig) -> Iterator[None]:
    """Cancel every job the test user submitted during the test, whatever it left behind.

    Only jobs from this test on (ids at or above the next id when it began), so tests
    run side by side by developers do not cancel each other's jobs.
    """
    first = next_job_id()
    yield
    user = a_config.connection.user or "rvtest"

    def mine() -> list[str]:
        out = as_admin("squeue", "-h", "-u", user, "-o", "%A")
        return [i for i in set(out.split()) if i.isdigit() and int(i) >= first]

    if ids := mine():
        subprocess.run(["scancel", *ids], check=False)
    deadline = time.monotonic() + 30
    while mine() and time.monotonic() < deadline:
        time.sleep(0.5)


def next_job_id() -> int:
    """The id Slurm gives the next job (a --test-only probe takes one and says which)."""
    out = subprocess.run(
        ["sbatch", "--test-only", "-p", "standard", "-t", "1", "-o", "/dev/null", "--wrap=true"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    m = re.search(r"Job (\d+) to start", out.stderr)
    return int(m.group(1)) if m else 0


@pytest.fixture(scope="session")
def a_shell():  # type: ignore[no-untyped-def]
    """The process's one real IPython InteractiveShell, with the extension loaded."""
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython() or get_ipython()  # type: ignore[no-untyped-call]
    shell.run_line_magic("load_ext", "rv")
    return shell


@pytest.fixture
def stand_in_data() -> Iterator[Path]:
    """The directory of data files behind the `allocations`/`hdquota` stand-ins; restored after."""
    data = MINI / "data"
    saved = {p.name: p.read_bytes() for p in data.glob("*.tsv")}
    yield data
    for name, content in saved.items():
        (data / name).write_bytes(content)
        (data / name).chmod(0o644)


WEB_APP = Path(__file__).with_name("web_app.py")


def wait_running(job_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while as_admin("squeue", "-h", "-j", job_id, "-o", "%T").strip() != "RUNNING":
        assert time.monotonic() < deadline, f"job {job_id} did not start"
        time.sleep(0.3)


@pytest.fixture
def a_web_job(a_cluster) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    """web_app.py running in a job of the test user; (job id, port)."""
    return start_web_app(a_cluster)


def start_web_app(cluster, bind: str = "0.0.0.0", *, outlive: bool = False) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    """Start web_app.py in a job, listening on `bind` on its node; (job id, port).
    With `outlive`, the job runs on after the app quits (GET /quit)."""
    path = "/home/rvtest/rv-test-web_app.py"
    cluster.run(f"cat > {path}", stdin=WEB_APP.read_text())
    port = random.randint(20000, 40000)
    app = f"python3 {path} {port} {bind}"
    run = f"{app}; sleep 600" if outlive else f"exec {app}"
    out = cluster.run(
        f"sbatch --parsable -p standard -t 10 -J web-app -o /home/rvtest/web-app-%j.log "
        f"--wrap '{run}'"
    )
    job_id = out.strip().split(";")[0]
    wait_running(job_id)
    deadline = time.monotonic() + 30
    while "listening" not in cluster.run(f"cat /home/rvtest/web-app-{job_id}.log || true"):
        assert time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.3)
    return job_id, port


OTHER_USER = os.environ.get("RV_MINI_OTHER_USER", "rvother")  # tests/cluster/common.sh


def start_neighbours_web_app(node: str, port: int, bind: str, *extra: str) -> str:
    """web_app.py in a job of the other local user on `node` (shared, as GPU nodes are),
    listening on `bind`:`port`; its job id (the caller ends them: stop_neighbours())."""
    home = Path(f"/home/{OTHER_USER}")
    app = home / "rv-test-web_app.py"
    app.write_text(WEB_APP.read_text())
    shutil.chown(app, OTHER_USER, OTHER_USER)
    log = home / f"neighbour-{port}.log"
    log.unlink(missing_ok=True)
    out = as_admin("runuser", "-u", OTHER_USER, "--", "sbatch", "--parsable", "-p", "standard",
                   "-w", node, "-t", "10", "-J", "neighbour", "-o", str(log), "--chdir", str(home),
                   "--wrap", f"exec python3 {app} {port} {bind} {' '.join(extra)}")  # fmt: skip
    job_id = out.strip().split(";")[0]
    wait_running(job_id)
    if "--retry" not in extra:
        deadline = time.monotonic() + 30
        while not (log.exists() and "listening" in log.read_text()):
            assert time.monotonic() < deadline, "the neighbour's web app did not start"
            time.sleep(0.3)
    return job_id


def stop_neighbours() -> None:
    """Cancel the other user's jobs and remove their logs."""
    subprocess.run(["scancel", "-u", OTHER_USER], check=False)
    for log in Path(f"/home/{OTHER_USER}").glob("neighbour-*.log"):
        log.unlink(missing_ok=True)


def foreign_job() -> str:
    """A running job of another user (root), cancelled by the caller."""
    # -o: run as root from the checkout, sbatch would leave slurm-<id>.out there.
    out = as_admin("sbatch", "--parsable", "-p", "standard", "-t", "5", "-J", "not-yours",
                   "-A", "root", "-o", "/dev/null", "--wrap", "sleep 300")  # fmt: skip
    job_id = out.strip().split(";")[0]
    wait_running(job_id)
    return job_id
