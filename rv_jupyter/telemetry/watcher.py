"""The watchdog inside the job: samples the node's GPUs, applies rules.py, sends through
notify.py. Stdlib only, Python 3.8: the node's python3 runs it as a lone file.

    python3 watcher.py --job ID --status FILE [--interval S] [--log PATH]...
                       [--limit NAME=VALUE]... [--name NAME]
                       [--su-per-gpu-hour R --gpus N]

The job script starts it next to the payload (rv_jupyter/jobs/watch.py) in a process
group of its own, with the env file's values (channels and the per-user signing secret,
see delivery.Notifier.from_env) in its environment only. It reads one looping
`nvidia-smi -l` (NVML opened once, no exec per sample), and ends the job's story when
the batch shell tells it how the payload ended (FILE, then SIGTERM) or when that shell
is gone: it never outlives the job.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

if __package__:
    from rv_jupyter.telemetry import delivery, node_facts, notify, rules
else:  # on the node: the shipped files sit side by side
    import delivery  # type: ignore[no-redef]
    import node_facts  # type: ignore[no-redef]
    import notify  # type: ignore[no-redef]
    import rules  # type: ignore[no-redef]

FIELDS = ("index", "name", "utilization.gpu", "memory.used", "memory.total")
DEFAULT_INTERVAL_S = 10
WARN_SHARE = 0.2  # of the job's length: the most lead the walltime warning may have
_RESTART_S = (5, 15, 60, 300)  # nvidia-smi died: try again, less and less often


def parse_row(line: str, node: str, nodes: list[str] | None = None) -> tuple[rules.Gpu, str] | None:
    """One `--query-gpu=FIELDS --format=csv,noheader,nounits` line as (Gpu, name);
    None for a line that is not one (a warning, a header). With `nodes` (a multi-node
    job), the line carries srun's task label ("1: ..."), task i running on nodes[i]."""
    if nodes:
        label, sep, line = line.partition(":")
        if not sep or not label.strip().isdigit() or int(label) >= len(nodes):
            return None
        node = nodes[int(label)]
    cells = [c.strip() for c in line.split(",")]
    if len(cells) != len(FIELDS) or not cells[0].isdigit():
        return None
    index, name, util, used, total = cells
    return rules.Gpu(node, int(index), _number(util), _number(used), _number(total)), name


def _number(text: str) -> float | None:
    # "[N/A]", "[Not Supported]", "[Unknown Error]": no reading, never a 0.
    try:
        return float(text.split()[0]) if text else None
    except ValueError:
        return None


class Batches:
    """Groups `nvidia-smi -l` rows into one reading of every GPU: a batch ends when an
    index comes back (the next loop began) or when the lines pause (`flush`)."""

    def __init__(self) -> None:
        self.pending: list[rules.Gpu] = []

    def add(self, gpu: rules.Gpu) -> list[rules.Gpu] | None:
        """Take a row; the finished batch when this row starts the next one."""
        done = None
        if any((g.node, g.index) == (gpu.node, gpu.index) for g in self.pending):
            done, self.pending = self.pending, []
        self.pending.append(gpu)
        return done

    def flush(self) -> list[rules.Gpu] | None:
        """The batch so far, if any."""
        done, self.pending = self.pending, []
        return done or None


def parse_limits(pairs: list[str]) -> rules.Limits:
    """`--limit idle_for_s=600` pairs as Limits (unknown names refused, one line)."""
    known = rules.Limits.__dataclass_fields__
    values = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in known:
            raise SystemExit(f"watcher: unknown limit {name!r}; known: {', '.join(known)}")
        try:
            values[name] = float(value)
        except ValueError:
            raise SystemExit(f"watcher: limit {name} needs a number, not {value!r}") from None
    return rules.Limits(**values)


def final_event(
    status: str, *, slurm: tuple[str, str] | None, left_s: float | None, oom: bool = False
) -> tuple[str, str, str, str]:
    """(event kind, Slurm state, exit code, note) of the job's end, from the batch shell's
    word (`status`: the payload's exit status, `resubmitted <id>`, or "" when the shell
    itself was ended) and else Slurm's (state, exit code). `oom`: the kernel's OOM killer
    struck in the job's cgroup, which Slurm will call OUT_OF_MEMORY once the job is over."""
    word = status.strip()
    if word.startswith("resubmitted"):
        nxt = word.split()[1] if len(word.split()) > 1 else ""
        return "resubmitted", "", "", f"The next segment is job {nxt}." if nxt else ""
    if word.lstrip("-").isdigit():
        code = int(word)
        if code == 0:
            return "ended", "COMPLETED", "0:0", ""
        if oom:
            return "failed", "OUT_OF_MEMORY", f"0:{code - 128}" if code > 128 else f"{code}:0", ""
        # A shell reports death by signal N as 128 + N; Slurm writes it as 0:N.
        return "failed", "FAILED", f"0:{code - 128}" if code > 128 else f"{code}:0", ""
    if slurm and slurm[0] not in ("", "RUNNING", "PENDING", "COMPLETING"):
        state, exit_code = slurm
        return ("ended" if state == "COMPLETED" else "failed"), state, exit_code, ""
    # Ended by a signal to the batch shell before Slurm recorded why: the clock tells.
    state = "TIMEOUT" if left_s is not None and left_s <= 90 else "CANCELLED"
    return "failed", state, "", ""


def warn_limits(limits: rules.Limits, length_s: float | None) -> rules.Limits:
    """Limits whose walltime warning comes at most a fifth of the job's length before its
    end (as the kernel agent's does): a 20-minute job is not warned at its start."""
    if length_s is None or length_s <= 0:
        return limits
    warn = min(limits.walltime_warn_s, WARN_SHARE * length_s)
    return dataclasses.replace(limits, walltime_warn_s=warn)


def sampler_argv(job_id: str, interval: int, nodes: list[str]) -> list[str]:
    """The one looping nvidia-smi; on a multi-node job, one per node in one job step
    (its lines labelled by task), which shares the job's GPUs with the payload."""
    smi = ["nvidia-smi", f"--query-gpu={','.join(FIELDS)}", "--format=csv,noheader,nounits",
           "-l", str(interval)]  # fmt: skip
    if not nodes:
        return smi
    return ["srun", f"--jobid={job_id}", "--overlap", f"--nodes={len(nodes)}",
            "--ntasks-per-node=1", "--label", "--unbuffered", *smi]  # fmt: skip


class Watcher:
    """The loop: samples in, alerts and events out."""

    def __init__(self, args: Any, notifier: Any, clock: Callable[[], float] = time.time) -> None:
        self.args = args
        self.notifier = notifier
        self.clock = clock
        self.node = socket.gethostname()
        self.nodes = node_facts.job_nodes()
        self.oom_at_start = node_facts.oom_kills(args.job)
        times = node_facts.start_end(args.job)
        self.end = times[1] if times else None
        limits = warn_limits(parse_limits(args.limit), times[1] - times[0] if times else None)
        self.watch = rules.Watch(args.job, label="GPU", limits=limits,
                                 su_per_gpu_hour=args.su_per_gpu_hour)  # fmt: skip
        self.parent = os.getppid()
        self.born = clock()  # next to the payload's start: the job's elapsed time
        self.gpus: list[rules.Gpu] = []
        self.latest: dict[tuple[str, int], rules.Gpu] = {}
        self.names: dict[int, str] = {}
        self.started = False
        self.stopping = False
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.next_start = 0.0

    def send(self, kind: str, *, last: bool = False, **fields: Any) -> None:
        """Send an event to every channel; the `last` one past the rate limit (a job's
        end must arrive even after a burst of alerts)."""
        if self.notifier is None:
            return
        event = notify.Event(kind, job_id=self.args.job, name=self.args.name, **fields)
        if not last:
            self.notifier.notify(event)
            return
        n = self.notifier
        for channel in n.channels:
            result = delivery.send(channel, event, secret=n.secret, timeout=n.timeout)
            if not result.ok:
                print(f"rv-watch: the job's end did not reach {channel.name}: {result.why}",
                      file=sys.stderr, flush=True)  # fmt: skip

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGHUP, self._stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of srun is the payload's
        batches, buf = Batches(), b""
        while not self.stopping and os.getppid() == self.parent:
            fd = self._sampler()
            ready: list[Any] = []
            if fd is not None:
                try:
                    ready, _, _ = select.select([fd], [], [], 2.0)
                except InterruptedError:
                    continue
            else:
                time.sleep(1.0)
            if ready:
                chunk = os.read(fd, 65536) if fd is not None else b""
                if not chunk:  # nvidia-smi ended: start it again later
                    self._reap()
                    continue
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    row = parse_row(line.decode("utf-8", "replace"), self.node, self.nodes)
                    if row:
                        self.names[row[0].index] = row[1]
                        done = batches.add(row[0])
                        if done:
                            self._reading(done)
            else:
                done = batches.flush()
                if done:
                    self._reading(done)
                self._check()
        self._finish()

    def _stop(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def _sampler(self) -> int | None:
        if self.proc is not None:
            return self.proc.stdout.fileno() if self.proc.stdout else None
        if self.clock() < self.next_start:
            return None
        argv = sampler_argv(self.args.job, self.args.interval, self.nodes)
        try:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         stdin=subprocess.DEVNULL)  # fmt: skip
        except OSError as exc:
            self._give_up_for_now(f"cannot run nvidia-smi: {exc}")
            return None
        return self.proc.stdout.fileno() if self.proc.stdout else None

    def _reap(self) -> None:
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if code in (-signal.SIGTERM, -signal.SIGHUP, -signal.SIGKILL):
            self.stopping = True  # the job is ending this group: the watcher goes too
            return
        self._give_up_for_now("nvidia-smi ended")

    def _give_up_for_now(self, why: str) -> None:
        wait = _RESTART_S[min(self.restarts, len(_RESTART_S) - 1)]
        if self.restarts == 0:
            print(f"rv-watch: {why}; trying again every few minutes", file=sys.stderr, flush=True)
        self.restarts += 1
        self.next_start = self.clock() + wait

    def _reading(self, gpus: list[rules.Gpu]) -> None:
        # The nodes' loops interleave: the rules see every GPU's latest reading.
        for g in gpus:
            self.latest[g.node, g.index] = g
        self.gpus = [self.latest[k] for k in sorted(self.latest)]
        if not self.started and set(self.nodes) <= {g.node for g in self.gpus}:
            self.started = True
            kinds = sorted({self.names.get(g.index, "GPU") for g in self.gpus})
            # "4 A100-SXM4-80GBs idle": the vendor's name is on every card.
            label = kinds[0][len("NVIDIA ") :] if kinds[0].startswith("NVIDIA ") else kinds[0]
            self.watch.label = label if len(kinds) == 1 else "GPU"
            on = self.nodes and len(self.nodes) > 1
            desc = ", ".join(
                f"{g.node + ' ' if on else ''}{g.index}: {self.names.get(g.index, '?')}"
                for g in self.gpus
            )
            self.send("started", nodes=self.nodes or [self.node], gpus=desc)
        self._check()

    def _check(self) -> None:
        now = self.clock()
        if not self.started and now - self.born > 3 * self.args.interval + 10:
            self.started = True  # no GPU reading (a CPU job, no nvidia-smi): say so anyway
            self.send(
                "started", nodes=self.nodes or [self.node], message="No GPU readings on this node."
            )
        logs = [p for p in self.args.log if os.path.exists(p)]
        log_mtime = max(os.path.getmtime(p) for p in logs) if logs else None
        left = self.end - now if self.end is not None else None
        for alert in self.watch.check(now, self.gpus, log_mtime=log_mtime, time_left_s=left):
            kind = "walltime" if alert.kind == "walltime" else "alert"
            self.send(
                kind,
                nodes=self.nodes or [self.node],
                message=alert.message,
                severity=alert.severity,
            )

    def _finish(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # srun passes it on to the step's tasks
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            with open(self.args.status) as f:
                status = f.read()
        except OSError:
            status = ""
        left = self.end - self.clock() if self.end is not None else None
        slurm = None if status.strip() else node_facts.slurm_end(self.args.job)
        ooms = node_facts.oom_kills(self.args.job)
        oom = ooms is not None and ooms > (self.oom_at_start or 0)
        kind, state, code, note = final_event(status, slurm=slurm, left_s=left, oom=oom)
        hint = rules.END_HINTS.get(state, "")
        message = note or (hint[:1].upper() + hint[1:] + "." if hint else "")
        severity = "info" if kind in ("ended", "resubmitted") else "error"
        elapsed = round(self.clock() - self.born)
        # What Rivanna charges: the GPUs held for the time run, at the type's rate.
        sus = (
            self.args.su_per_gpu_hour * self.args.gpus * elapsed / 3600 if self.args.gpus else None
        )
        self.send(kind, last=True, nodes=self.nodes or [self.node], state=state, exit_code=code,
                  message=message, severity=severity, elapsed_s=elapsed, sus=sus)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Watch the job until it ends."""
    p = argparse.ArgumentParser(prog="watcher.py", description=__doc__.splitlines()[0])
    p.add_argument("--job", required=True)
    p.add_argument("--name", default="")
    p.add_argument("--status", required=True)
    p.add_argument("--interval", type=int, default=DEFAULT_INTERVAL_S)
    p.add_argument("--log", action="append", default=[])
    p.add_argument("--limit", action="append", default=[])
    p.add_argument("--su-per-gpu-hour", type=float, default=0.0)
    p.add_argument("--gpus", type=int, default=0)
    args = p.parse_args(argv)
    notifier = delivery.Notifier.from_env(os.environ)
    # Read once, then out of the environment: nvidia-smi, squeue and sacct inherit it.
    for name in [n for n in os.environ if n.startswith("RV_NOTIFY_")]:
        del os.environ[name]
    if notifier is None:
        print("rv-watch: no notification channel in this job's environment; alerts go "
              "nowhere (set one with %rv_notify)", file=sys.stderr, flush=True)  # fmt: skip
    Watcher(args, notifier).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
