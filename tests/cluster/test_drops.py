"""Connections dropped mid-command: nothing runs twice unless it may, nothing is left behind.

Each drop kills only the sshd processes serving this test's own connection (found by
its local port), as a network failure would; other sessions of the test user go on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
import subprocess
from pathlib import Path

import pytest

from rv_jupyter.allocator.fanout import Allocator
from rv_jupyter.allocator.request import Request
from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.errors import ConnectionLost
from rv_jupyter.remote import Connection
from rv_jupyter.remote.batch import build_script, new_token

HOME = Path("/home/rvtest")


def drop(conn: Connection) -> None:
    """Kill the server side of `conn`'s TCP connection (root, on the login node)."""
    assert conn._conn is not None, "not connected"
    port = conn._conn.get_extra_info("sockname")[1]
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :22022 and dport = :{port} )"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    pids = set(re.findall(r"pid=(\d+)", out))
    assert pids, f"no sshd serves local port {port}"
    subprocess.run(["kill", "-KILL", *pids], check=False)


async def dropped_at(conn: Connection, run: object, delay: float) -> BaseException:
    """Start the coroutine `run`, drop the connection after `delay` s; what it raised."""
    task = asyncio.ensure_future(run)  # type: ignore[call-overload]
    await asyncio.sleep(delay)
    drop(conn)
    try:
        result = await task
    except BaseException as exc:
        return exc
    # Not dropped: say what came back instead (e.g. the job was cancelled meanwhile).
    return AssertionError(f"no drop seen; the command returned {result!r}")


def count_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


async def test_a_user_command_cut_by_a_drop_runs_once_and_says_so(a_cluster: Cluster) -> None:
    marker = HOME / f"rv-drop-{secrets.token_hex(4)}"
    try:
        for i in range(3):
            await a_cluster.arun("true")  # connected
            exc = await dropped_at(
                a_cluster.connection,
                a_cluster.arun(f"echo run >> {marker}; sleep 4"),
                random.uniform(1, 2),
            )
            assert isinstance(exc, ConnectionLost), exc
            assert "not retried because it may have taken effect" in str(exc)
            assert "%rv_ps" in str(exc)
            await asyncio.sleep(3.5)  # it would have run again by now
            assert count_lines(marker) == i + 1
    finally:
        marker.unlink(missing_ok=True)


async def test_alloc_run_cut_by_a_drop_runs_once(a_cluster: Cluster) -> None:
    req = Request.build(gpus=1, time="10m", name=f"drops-{secrets.token_hex(3)}")
    alloc = await Allocator(a_cluster, poll_s=1).allocate(req, timeout_s=60)
    marker = HOME / f"rv-drop-{secrets.token_hex(4)}"
    try:
        delays = [random.uniform(1, 2) for _ in range(4)]
        for i, delay in enumerate(delays):
            await alloc.arun("true")
            exc = await dropped_at(
                a_cluster.connection, alloc.arun(f"echo run >> {marker}; sleep 4"), delay
            )
            assert isinstance(exc, ConnectionLost) and "not retried" in str(exc), (delay, exc)
            await asyncio.sleep(3.5)
            assert count_lines(marker) == i + 1, f"ran twice after a drop at {delay:.2f} s"
    finally:
        marker.unlink(missing_ok=True)
        await alloc.acancel()


async def test_a_read_says_it_may_run_again_and_does(a_cluster: Cluster) -> None:
    await a_cluster.arun("true")
    before = a_cluster.connection.connects
    task = asyncio.ensure_future(a_cluster.arun("sleep 2; echo read", retry=True))
    await asyncio.sleep(1)
    drop(a_cluster.connection)
    assert await task == "read\n"
    assert a_cluster.connection.connects == before + 1


async def test_a_dropped_batch_leaves_no_temporary_directory(tmp_path: Path) -> None:
    from rv_jupyter import config as rv_config
    from rv_jupyter.cluster.handle import ssh_target

    conn = Connection(ssh_target(rv_config.load()))
    # A TMPDIR of its own, so other users' batches cannot be mistaken for this one's.
    tmp = f"/tmp/rv-drop-{secrets.token_hex(4)}"
    try:
        await conn.run(f"mkdir -p {tmp}")
        for parallel, delay in ((False, 1.0), (True, 1.5)):
            script = build_script(["echo a", "sleep 3", "echo c"], new_token(), parallel=parallel)
            exc = await dropped_at(
                conn, conn.run(f"TMPDIR={tmp} sh -s", stdin=script, retry=False), delay
            )
            assert isinstance(exc, ConnectionLost)
            await asyncio.sleep(3)  # the batch's own commands are over
            left = (await conn.run(f"ls -A {tmp}")).stdout.split()
            assert left == [], f"left behind: {left}"
    finally:
        await conn.run(f"rm -rf {tmp}", retry=True)
        await conn.close()


async def test_asyncssh_says_nothing_at_info(
    a_cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    # A host application (papermill, Jupyter) logging at INFO.
    caplog.set_level(logging.INFO)
    await a_cluster.aclose()
    await a_cluster.arun("echo hi")
    await a_cluster.astate()
    chatty = [r for r in caplog.records if r.name.startswith("asyncssh")]
    assert chatty == [], chatty[:3]


async def test_a_refused_session_is_an_error_and_the_others_live_on(a_config_path: Path) -> None:
    from rv_jupyter import config as rv_config
    from rv_jupyter.cluster.handle import ssh_target
    from rv_jupyter.errors import SshError

    conn = Connection(ssh_target(rv_config.load(a_config_path)))
    procs = []
    try:
        for _ in range(64):  # the login sshd's MaxSessions
            procs.append(await conn.open_process("cat"))
        with pytest.raises(SshError, match="refused to run `cat`") as err:
            await conn.open_process("cat")
        assert not isinstance(err.value, ConnectionLost)
        # Not mistaken for a drop: the connection and its sessions are untouched.
        assert conn.connects == 1
        procs[0].stdin.write(b"still here\n")
        assert await procs[0].stdout.readline() == b"still here\n"
    finally:
        for proc in procs:
            proc.close()
        await conn.close()


async def test_a_process_whose_channel_never_opened_is_started_again(a_config_path: Path) -> None:
    from rv_jupyter import config as rv_config
    from rv_jupyter.cluster.handle import ssh_target

    conn = Connection(ssh_target(rv_config.load(a_config_path)))
    try:
        await conn.run("true")
        drop(conn)  # asyncssh has not noticed yet: the open goes out and fails
        proc = await conn.open_process("echo started")
        assert await proc.stdout.readline() == b"started\n"
        assert conn.connects == 2
        proc.close()
    finally:
        await conn.close()
