"""The test cluster itself looks like Rivanna where the product depends on it.

These check the harness (tests/cluster/up) with the plain OpenSSH client and admin
commands, so a broken cluster fails here with a clear cause rather than deep inside a
product test.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.cluster.conftest import MINI, as_admin

SSH_CONFIG = MINI / "ssh" / "config"


def ssh(host: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `command` as the test user through OpenSSH with the cluster's client config."""
    return subprocess.run(
        ["ssh", "-F", str(SSH_CONFIG), host, command],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


RIVANNA_PARTITIONS = {
    "standard", "parallel", "gpu-mig", "interactive-rtx3090", "gpu-a6000", "gpu-a40",
    "gpu-a100-40", "gpu-a100-80", "gpu-v100", "gpu-h200",
}  # fmt: skip


def test_partitions_are_named_and_limited_as_on_rivanna() -> None:
    rows = as_admin("sinfo", "-h", "-o", "%R|%l|%D|%G|%f").split()
    parts = {r.split("|")[0]: r.split("|") for r in rows}
    assert set(parts) == RIVANNA_PARTITIONS
    assert parts["interactive-rtx3090"][1] == "12:00:00"
    assert int(parts["gpu-a6000"][2]) >= 2
    assert "gpu:1g.10gb" in parts["gpu-mig"][3]
    assert "a100_80gb" in parts["gpu-a100-80"][4]


def test_a_job_gets_its_gpus_and_its_node_name() -> None:
    out = ssh(
        "mini-rivanna",
        "srun -p gpu-a6000 --gres=gpu:a6000:2 -t 1 "
        "bash -c 'echo $CUDA_VISIBLE_DEVICES $(hostname)'",
    )
    assert out.returncode == 0, out.stderr
    gpus, host = out.stdout.split()
    assert gpus == "0,1"
    assert host.startswith("udc-a6k-")


def test_the_test_user_is_not_root_and_logs_in_with_a_checked_host_key() -> None:
    out = ssh("mini-rivanna", "id -u; hostname")
    assert out.returncode == 0, out.stderr
    uid, _ = out.stdout.split()
    assert uid != "0"


def test_ssh_jumps_through_the_login_node_into_a_compute_node() -> None:
    out = ssh("udc-a40-1", "hostname")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "udc-a40-1"


def _listen_in(node: str, port: int, reply: str) -> subprocess.Popen[str]:
    code = (
        "import socket,sys\n"
        "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('127.0.0.1',{port})); s.listen(); print('ready', flush=True)\n"
        "while True:\n c,_=s.accept(); c.sendall(sys.argv[1].encode()); c.close()\n"
    )
    proc = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/rv-{node}", sys.executable, "-c", code, reply],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _read_in(node: str | None, port: int) -> str:
    code = (
        "import socket\n"
        f"s=socket.create_connection(('127.0.0.1',{port}),timeout=2); print(s.recv(100).decode())"
    )
    cmd = [sys.executable, "-c", code]
    if node:
        cmd = ["nsenter", f"--net=/run/netns/rv-{node}", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    return out.stdout.strip() if out.returncode == 0 else "refused"


def test_each_node_has_its_own_loopback() -> None:
    port = 18765
    a = _listen_in("udc-a6k-1", port, "from-a")
    b = _listen_in("udc-a6k-2", port, "from-b")  # same port, other node: no conflict
    try:
        assert _read_in("udc-a6k-1", port) == "from-a"
        assert _read_in("udc-a6k-2", port) == "from-b"
        assert _read_in("udc-a40-1", port) == "refused"
        with socket.socket() as s:
            s.settimeout(1)
            assert s.connect_ex(("127.0.0.1", port)) != 0, "a node's loopback leaked to the host"
    finally:
        for p in (a, b):
            p.kill()
            p.wait()


def test_nodes_are_reachable_by_name_from_the_login_side_only_on_the_private_bridge() -> None:
    addr = socket.gethostbyname("udc-a6k-1")
    assert addr.startswith("10.213.0.")
    routes = subprocess.run(["ip", "route", "get", "10.213.9.9"], capture_output=True, text=True)
    # Anything in the range but off the bridge is blackholed, never routed off the machine.
    assert routes.returncode != 0 or "blackhole" in routes.stdout or "unreachable" in routes.stderr


def test_stand_ins_print_uva_formats_from_their_data(stand_in_data: Path) -> None:
    (stand_in_data / "allocations.tsv").write_text("lab_x\t5000\t1234.5\n")
    out = ssh("mini-rivanna", "allocations")
    assert out.returncode == 0, out.stderr
    assert "account_name" in out.stdout
    row = next(ln for ln in out.stdout.splitlines() if ln.startswith("lab_x"))
    assert row.split()[1:] == ["5000.00", "1234.50", "3765.50"]
    out = ssh("mini-rivanna", "hdquota")
    assert "Home Directory" in out.stdout


def test_a_second_up_is_a_no_op() -> None:
    before = sorted(p.read_text() for p in (MINI / "pids").glob("*.pid"))
    t0 = time.monotonic()
    out = subprocess.run(
        [str(Path(__file__).parent / "up")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == str(MINI / "rv-config.toml")
    assert time.monotonic() - t0 < 5
    assert sorted(p.read_text() for p in (MINI / "pids").glob("*.pid")) == before
