"""The node side of a remote kernel. Standalone: the cluster's Python runs it with the
standard library only (rv-jupyter itself is not installed there).

    python3 agent.py launch DIR ID [--warn SECONDS] [-- KERNEL ARGV...]
        Start the kernel from DIR/ID.json (a 0600 connection file holding the key, ports 0,
        ip 127.0.0.1). ipykernel binds free ports on the node's loopback and writes them
        back; the agent copies the ports (not the key) to DIR/ID.ports, deletes ID.json,
        and waits for the kernel, recording its exit status in DIR/ID.exit. It runs as
        the main process of a job step, so the kernel lives exactly as long as the step.
        The kernel says so in the notebook when Slurm ends the job; with --warn, it
        warns in a cell's output SECONDS before the walltime ends (and a minute before),
        never earlier than a fifth of the job's length before its end.

    python3 agent.py relay PORT...
        Carry TCP connections to the kernel's loopback PORTs over stdin/stdout (one SSH
        channel through the login node and srun), framed as
        [kind:1][conn:4][length:4][data]: kind O opens conn to the port in data, D carries
        data, C closes. Only the PORTs named on its command line can be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import signal
import struct
import subprocess
import sys
import time

HEAD = struct.Struct("!cII")
PORT_KEYS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


# Runs inside the kernel at its start (IPKernelApp.exec_files). Slurm ends a job (scancel,
# walltime, preemption) with SIGTERM to every process of it: say so in the notebook before
# going. And before each cell, warn if the job's walltime is near (the end time comes from
# Slurm once, on the node).
KERNEL_STARTUP = """
def _rv_on_sigterm():
    import os, signal, sys, time
    job = os.environ.get("SLURM_JOB_ID", "")

    def ending(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # Slurm and the agent both send it
        print(f"rv: Slurm is ending job {job} (cancelled, walltime reached or preempted); "
              "this kernel stops now. Its variables are lost; files on disk stay.",
              file=sys.stderr, flush=True)
        time.sleep(0.5)  # let the message leave through the IOPub thread
        os._exit(143)

    signal.signal(signal.SIGTERM, ending)

_rv_on_sigterm()
del _rv_on_sigterm


def _rv_walltime_warning(warn_s):
    import datetime, os, subprocess, sys, time
    job = os.environ.get("SLURM_JOB_ID", "")
    out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%S %e"],
                         capture_output=True, text=True).stdout.split()
    try:
        start, end = (datetime.datetime.fromisoformat(t).timestamp() for t in out)
    except ValueError:
        return  # no limit, or not readable: nothing to warn about
    marks, due = warn_marks(warn_s, end - start), due_mark  # the names are deleted below
    warned = set()

    def check(*_args):
        left = end - time.time()
        mark = due(marks, warned, left)
        if mark is None:
            return
        warned.update(m for m in marks if m >= mark)
        print(f"rv: job {job} reaches its walltime in {max(0, int(left)) // 60} min "
              f"{max(0, int(left)) % 60} s; the kernel stops then. Save your work "
              "(or use a longer --time / checkpoint segments).", file=sys.stderr)

    get_ipython().events.register("pre_run_cell", check)

if RV_WARN_S > 0:
    _rv_walltime_warning(RV_WARN_S)
del _rv_walltime_warning, warn_marks, due_mark, WARN_SHARE
"""

WARN_SHARE = 0.2  # of the job's length: the most lead a warning may have


def warn_marks(warn_s: int, limit_s: float) -> list[int]:
    """Seconds before the walltime at which the notebook is warned, ascending: the last
    minute and the configured lead, neither more than a fifth of the job's length, so a
    10-minute job hears of its end 2 minutes before it, not in its first cell."""
    if warn_s <= 0:
        return []
    cap = int(limit_s * WARN_SHARE)
    return sorted({m for m in (min(60, cap), min(warn_s, cap)) if m > 0})


def due_mark(marks: list[int], warned: set[int], left_s: float) -> int | None:
    """The mark to warn about now with `left_s` to go, if any (once per mark: the nearest
    one passed, unless it or a nearer one was already said)."""
    for mark in marks:
        if left_s <= mark:
            return None if mark in warned else mark
    return None


def startup_source(warn_s: int) -> str:
    """The file the kernel runs at its start (KERNEL_STARTUP, warning `warn_s` ahead)."""
    # The kernel runs the same pure functions the agent's tests check. (The future import
    # stays in this file: IPython compiles exec_files apart from the user's cells.)
    return (
        "from __future__ import annotations\n"
        + inspect.getsource(warn_marks) + inspect.getsource(due_mark)
        + f"WARN_SHARE = {WARN_SHARE!r}\n"
        + KERNEL_STARTUP.replace("RV_WARN_S", str(int(warn_s)))
    )  # fmt: skip


def launch(directory: str, kernel_id: str, argv: list[str], warn_s: int = 0) -> int:
    conn_file = os.path.join(directory, kernel_id + ".json")
    ports_file = os.path.join(directory, kernel_id + ".ports")
    exit_file = os.path.join(directory, kernel_id + ".exit")
    cmd = argv or [sys.executable, "-m", "ipykernel_launcher"]
    startup = os.path.join(directory, kernel_id + ".startup.py")
    with open(startup, "w") as f:
        f.write(startup_source(warn_s))
    extra = [f"--IPKernelApp.exec_files={json.dumps([startup])}"]
    kernel = subprocess.Popen([*cmd, "-f", conn_file, *extra], stdin=subprocess.DEVNULL)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: kernel.send_signal(s))
    deadline = time.monotonic() + 120
    ports = None
    while ports is None and kernel.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            with open(conn_file) as f:
                info = json.load(f)
        except (OSError, ValueError):
            continue  # not written yet, or half-written
        if all(info.get(k) for k in PORT_KEYS):
            ports = {k: info[k] for k in PORT_KEYS}
    with contextlib.suppress(OSError):
        os.unlink(conn_file)  # the key's only copy on the cluster
    if ports is None:
        kernel.kill()
        status = kernel.wait()
        _write(exit_file, {"status": status, "reason": "the kernel did not start"})
        return 1
    _write(
        ports_file,
        {"ports": ports, "pid": kernel.pid, "host": os.uname().nodename,
         "step": os.environ.get("SLURM_STEP_ID"), "job": os.environ.get("SLURM_JOB_ID")},
    )  # fmt: skip
    status = kernel.wait()
    _write(exit_file, {"status": status})
    return 0


def _write(path: str, data: dict[str, object]) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


async def relay(allowed: set[int]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 22)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout.buffer
    )
    out = asyncio.StreamWriter(transport, protocol, None, loop)
    writers: dict[int, asyncio.StreamWriter] = {}
    pumps: set[asyncio.Future[None]] = set()  # referenced, so none is collected mid-flight

    def send(kind: bytes, conn: int, data: bytes = b"") -> None:
        out.write(HEAD.pack(kind, conn, len(data)) + data)

    async def pump(conn: int, kernel_side: asyncio.StreamReader) -> None:
        try:
            while data := await kernel_side.read(1 << 16):
                send(b"D", conn, data)
                await out.drain()
        except OSError:
            pass
        finally:
            if writers.pop(conn, None) is not None:
                send(b"C", conn)

    async def open_conn(conn: int, port: int) -> None:
        if port not in allowed:
            send(b"C", conn)
            return
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            send(b"C", conn)
            return
        writers[conn] = w
        pumps.add(asyncio.ensure_future(pump(conn, r)))

    pending: dict[int, asyncio.Future[None]] = {}
    while True:
        try:
            kind, conn, n = HEAD.unpack(await reader.readexactly(HEAD.size))
            data = await reader.readexactly(n)
        except asyncio.IncompleteReadError:
            break  # the laptop side went away; the kernel stays up
        if kind == b"O":
            pending[conn] = asyncio.ensure_future(open_conn(conn, int(data)))
        elif kind == b"D":
            if conn in pending:
                await pending.pop(conn)
            w = writers.get(conn)
            if w is not None:
                w.write(data)
                await w.drain()
        elif kind == b"C":
            if conn in pending:
                await pending.pop(conn)
            w = writers.pop(conn, None)
            if w is not None:
                w.close()
    for w in writers.values():
        w.close()


def main(argv: list[str]) -> int:
    if argv[:1] == ["launch"] and len(argv) >= 3:
        rest, warn_s = argv[3:], 0
        if rest[:1] == ["--warn"] and len(rest) >= 2:
            warn_s, rest = int(rest[1]), rest[2:]
        return launch(argv[1], argv[2], rest[1:] if rest[:1] == ["--"] else rest, warn_s)
    if argv[:1] == ["relay"]:
        # When Slurm ends the job, the kernel's last words ("Slurm is ending job ...")
        # must still get out: the relay outlives SIGTERM until its stdin closes or
        # Slurm's KillWait ends in SIGKILL.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        asyncio.run(relay({int(p) for p in argv[1:]}))
        return 0
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
