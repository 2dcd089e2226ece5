"""What a running job's own processes listen on, asked of a small watcher inside the job.

Every connection a forward makes is checked first (port_choice.py decides the address):
a per-connection `srun` would cost ~0.2 s, so one `srun --jobid --overlap` step per job
stays up and answers each question in about a millisecond over its stdin/stdout. Being a
step of the job, it ends when the job does; a question then fails, so no connection goes
to the node of a job that has ended, and a port the job stopped listening on (which
another user may have taken since) is refused, however long the forward stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rv_jupyter.errors import PortClosed, RvError, UnknownJob
from rv_jupyter.remote.port_choice import Target, choose_target, is_loopback
from rv_jupyter.slurm import srun

if TYPE_CHECKING:
    from rv_jupyter.remote.connection import Connection

ANSWER_TIMEOUT_S = 30.0  # the first answer waits for the step to start

# Runs in the job (python3 -c): reads one port per line (0: every port), answers one JSON
# line: the addresses the job's processes listen on and, for one port, the addresses
# anything else on the node does. The kernel's socket diagnostics (netlink, as `ss` uses)
# list the listening sockets of the node with their owner and inode in well under a
# millisecond (reading /proc/net/tcp walks every socket of the machine, ~5 ms); /proc and
# `scontrol listpids` tell which belong to the job. It needs nothing installed.
_WATCHER = r"""
import json, os, socket, struct, subprocess, sys
JOB, UID = os.environ["SLURM_JOB_ID"], os.getuid()
pids = []

def job_pids():
    out = subprocess.run(["scontrol", "listpids", JOB], capture_output=True, text=True).stdout
    return [r.split()[0] for r in out.splitlines()[1:] if r.split() and r.split()[0].isdigit()]

def diag(family, port):
    # inet_diag_req_v2: TCP sockets in LISTEN on `port` (0: all) -> (port, addr, uid, inode)
    req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << 10)
    req += struct.pack("!HH", port, 0) + bytes(44)
    found = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4) as nl:
        nl.sendto(struct.pack("=IHHII", 16 + len(req), 20, 0x301, 1, 0) + req, (0, 0))
        while True:
            data, at = nl.recv(1 << 16), 0
            while at < len(data):
                size, kind = struct.unpack_from("=IH", data, at)
                if kind == 3:
                    return found
                if kind == 2:
                    raise OSError("sock_diag refused")
                fam = data[at + 16]
                sport = struct.unpack_from("!H", data, at + 20)[0]
                raw = data[at + 24:at + (28 if fam == socket.AF_INET else 40)]
                uid, inode = struct.unpack_from("=II", data, at + 80)
                found.append((sport, socket.inet_ntop(fam, raw), uid, str(inode)))
                at += (size + 3) & ~3

def address(hexa):
    raw = bytes.fromhex(hexa)
    if sys.byteorder == "little":  # the kernel prints each 32-bit word in host order
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)

def proc_net(port):
    # The same from /proc/net/tcp{,6}, where netlink is not allowed.
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            a, p = f[1].rsplit(":", 1)
            if len(f) > 9 and f[3] == "0A" and (not port or int(p, 16) == port):
                found.append((int(p, 16), address(a), int(f[7]), f[9]))
    return found

def listening(port):
    try:
        found = diag(socket.AF_INET, port) + diag(socket.AF_INET6, port)
    except OSError:
        found = proc_net(port)
    return {s[3]: s for s in found}

def owners(socks):
    found = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            name = open(f"/proc/{pid}/comm").read().strip()
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in socks:
                found[target[8:-1]] = (int(pid), name)
    return found

try:
    node_addr = socket.gethostbyname(socket.gethostname())
except OSError:
    node_addr = None
for line in sys.stdin:
    port = int(line)
    socks = listening(port)
    mine = owners(socks) if port else {}
    # Job pids are read again (~5 ms) only when a socket of this user on the port belongs
    # to none known: a server started since. A pid the job no longer has cannot turn into
    # another user's: their /proc/<pid>/fd cannot be read.
    if port == 0 or any(s[2] == UID and i not in mine for i, s in socks.items()):
        pids = job_pids()
        mine = owners(socks)
    ours = [{"port": socks[i][0], "address": socks[i][1], "pid": p, "process": n}
            for i, (p, n) in mine.items()]
    others = [s[1] for i, s in socks.items() if i not in mine] if port else []
    print(json.dumps({"node_addr": node_addr, "ours": ours, "others": others}), flush=True)
"""


@dataclass(frozen=True)
class ListeningPort:
    """A TCP port a process of the job listens on."""

    port: int
    pid: int
    process: str
    loopback_only: bool  # bound to 127.0.0.1/::1: reached over SSH into the node


class JobPorts:
    """The watcher of one running job: which of its ports are where, asked per connection."""

    def __init__(self, connection: Connection, job_id: str, node: str) -> None:
        self.connection, self.job_id, self.node = connection, job_id, node
        self.starts = 0  # watchers started (tests: one per job, not one per connection)
        self.on_end: Any = None  # called when the watcher ends (the job may have)
        self._proc: Any = None
        self._waiting: list[asyncio.Future[dict[str, Any]]] = []
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def alocate(self, port: int) -> Target:
        """Where a connection to `port` reaches the job's own listener; PortClosed if none."""
        seen = await self._ask(port)
        ours = [r["address"] for r in seen["ours"] if r["port"] == port]
        return choose_target(self.job_id, port, ours, seen["others"], seen["node_addr"])

    async def alistening(self) -> list[ListeningPort]:
        """Every TCP port the job's processes listen on (on its first node)."""
        by_port: dict[int, list[dict[str, Any]]] = {}
        for row in (await self._ask(0))["ours"]:
            by_port.setdefault(int(row["port"]), []).append(row)
        return [
            ListeningPort(port, int(rows[0]["pid"]), str(rows[0]["process"]),
                          all(is_loopback(r["address"]) for r in rows))
            for port, rows in sorted(by_port.items())
        ]  # fmt: skip

    def close(self) -> None:
        """End the watcher (its step ends; the job runs on)."""
        self._closed = True
        self.on_end = None
        self._end(PortClosed(f"The forwards of job {self.job_id} are closed."))

    async def _ask(self, port: int) -> dict[str, Any]:
        async with self._lock:  # one watcher started at a time; answers come in order
            if self._closed:
                raise PortClosed(f"The forwards of job {self.job_id} are closed.")
            if self._proc is None:
                await self._start()
            answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._waiting.append(answer)
            try:
                self._proc.stdin.write(f"{port}\n".encode())
            except Exception:  # the channel is gone; the next question starts a new watcher
                self._end(None)
        try:
            return await asyncio.wait_for(answer, ANSWER_TIMEOUT_S)
        except asyncio.TimeoutError:
            self._end(None)
            raise PortClosed(
                f"Job {self.job_id} did not say within {ANSWER_TIMEOUT_S:g} s what it listens on.",
                hint="The cluster may be busy; try again.",
            ) from None

    async def _start(self) -> None:
        self.starts += 1
        command = srun.step(
            self.job_id, ["python3", "-u", "-c", _WATCHER], node=self.node, name="rv-ports"
        )
        try:
            proc = await self.connection.open_process(command)
        except RvError:
            raise
        except Exception as exc:  # asyncssh's, on a dropped connection
            raise PortClosed(f"Cannot ask job {self.job_id} what it listens on: {exc}.") from exc
        self._proc = proc
        self._reader = asyncio.ensure_future(self._read(proc))

    async def _read(self, proc: Any) -> None:
        error: RvError | None = None
        try:
            while line := await proc.stdout.readline():
                if self._waiting:
                    answer = self._waiting.pop(0)
                    if not answer.done():  # its asker may have gone (a closed connection)
                        answer.set_result(json.loads(line))
        except Exception as exc:  # the channel broke: the same as the watcher ending
            error = PortClosed(f"Lost the watcher of job {self.job_id}: {exc}.")
        if error is None:
            error = await self._why_ended(proc)
        if self._proc is proc:
            self._end(error)

    async def _why_ended(self, proc: Any) -> RvError:
        stderr = b""
        with contextlib.suppress(Exception):
            stderr = await asyncio.wait_for(proc.stderr.read(), 5)
        said = stderr.decode(errors="replace").strip().splitlines()
        last = said[-1] if said else ""
        ended = ("completed", "finished", "expired", "invalid job", "not running", "terminated",
                 "cancelled", "aborted", "time limit")  # fmt: skip
        if not last or any(word in last.lower() for word in ended):
            return UnknownJob(
                f"Job {self.job_id} is no longer running.",
                hint="Only ports of your own running jobs can be reached; %rv_ps lists them.",
            )
        return PortClosed(f"Cannot ask job {self.job_id} what it listens on: {last}")

    def _end(self, error: RvError | None) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.close()
        waiting, self._waiting = self._waiting, []
        for answer in waiting:
            if not answer.done():
                answer.set_exception(error or PortClosed(f"Job {self.job_id} did not answer."))
        if self.on_end is not None:
            self.on_end(self)
