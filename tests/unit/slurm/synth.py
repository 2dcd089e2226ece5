"""Large squeue/sinfo outputs with the field shapes real clusters print.

Used by the parser tests (correctness on 10k rows) and by benchmarks/parse.py (speed).
Deterministic: the same `n` and `seed` give the same text.
"""

from __future__ import annotations

import random

from rv_jupyter.slurm import sinfo, squeue

_REASONS = (
    "None", "Priority", "Resources", "QOSMaxGRESPerUser", "Dependency",
    "ReqNodeNotAvail, Reserved for maintenance", "AssocGrpGRES", "JobArrayTaskLimit",
    "BeginTime", "launch failed requeued held",
)  # fmt: skip
_GPU = (("a6000", 8), ("a40", 8), ("a100", 8), ("h200", 8), ("v100", 4), ("1g.10gb", 28))
_PARTS = ("gpu-a6000", "gpu-a40", "gpu-a100-80", "gpu-h200", "gpu-v100", "gpu-mig", "standard")


def squeue_header() -> str:
    """The header line squeue prints for squeue.FIELDS."""
    names = [f.split(":")[0] for f in squeue.FIELDS.split(",")]
    titles = {
        "JobArrayID": "JOBID", "TimeUsed": "TIME", "TimeLimit": "TIME_LIMIT",
        "StartTime": "START_TIME", "SubmitTime": "SUBMIT_TIME", "NumNodes": "NODES",
        "NumCPUs": "CPUS", "tres-per-node": "TRES_PER_NODE", "tres-alloc": "TRES_ALLOC",
        "UserName": "USER", "NodeList": "NODELIST",
    }  # fmt: skip
    return "".join(titles.get(n, n.upper()) + "|" for n in names)


def squeue_text(n: int, *, seed: int = 7) -> str:
    """`n` job rows of many users: arrays, het jobs, GRES with and without type, long reasons."""
    rnd = random.Random(seed)
    lines = [squeue_header()]
    for i in range(n):
        gtype, per = rnd.choice(_GPU)
        count = rnd.randint(1, per)
        running = rnd.random() < 0.4
        jid = str(1_000_000 + i)
        shape = rnd.random()
        if shape < 0.1:
            jid += f"_{rnd.randint(0, 999)}"
        elif shape < 0.15:
            jid += f"_[{rnd.randint(0, 9)}-{rnd.randint(10, 99)}%{rnd.randint(1, 8)}]"
        elif shape < 0.17:
            jid += "+0"
        tres = rnd.choice((f"gres:gpu:{gtype}:{count}", f"gres/gpu:{gtype}={count}", "N/A"))
        alloc = f"cpu={count * 4},mem={count * 32}G,node=1,billing={count * 10},gres/gpu={count}"
        if tres != "N/A":
            alloc += f",gres/gpu:{gtype}={count}"
        nodes = rnd.randint(1, 2)
        node_list = (
            f"udc-an{rnd.randint(10, 40)}-[{rnd.randint(1, 9)},{rnd.randint(10, 20)}]"
            if nodes == 2
            else f"udc-an{rnd.randint(10, 40)}-{rnd.randint(1, 40)}"
        )
        lines.append(
            "|".join(
                (
                    jid,
                    rnd.choice(_PARTS),
                    "RUNNING" if running else rnd.choice(("PENDING", "PENDING", "COMPLETING")),
                    f"{rnd.randint(0, 2)}-{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:05"
                    if running
                    else "0:00",
                    rnd.choice(("3-00:00:00", "2:59:00", "30:00", "12:00:00", "UNLIMITED")),
                    "2026-11-25T03:08:14"
                    if running
                    else rnd.choice(("N/A", "2026-11-26T10:00:00")),
                    "2026-11-25T03:08:11",
                    str(nodes),
                    str(count * 4),
                    tres,
                    alloc,
                    rnd.choice(("mylab_paid", "otherlab", "bigproject_standard")),
                    f"u{rnd.randint(1000, 9999)}ab",
                    node_list if running else "",
                    "None" if running else rnd.choice(_REASONS),
                    rnd.choice(("train", "jupyter lab|notebook", "sweep lr=3e-4 bs=64", "rv-k-x")),
                )
            )
            + "|"
        )
    return "\n".join(lines) + "\n"


def sinfo_text(n: int, *, seed: int = 7) -> str:
    """`n` node rows (a node in two partitions appears twice, as sinfo --Node prints it)."""
    rnd = random.Random(seed)
    names = [f.split(":")[0] for f in sinfo.COMMAND.split(" -O ")[1].split(",")]
    titles = {
        "NodeList": "NODELIST", "StateLong": "STATE", "GresUsed": "GRES_USED",
        "CPUsState": "CPUS(A/I/O/T)", "AllocMem": "ALLOCMEM", "Features": "AVAIL_FEATURES",
    }  # fmt: skip
    lines = ["".join(titles.get(x, x.upper()) + "|" for x in names)]
    i = 0
    while len(lines) <= n:
        gtype, per = rnd.choice(_GPU)
        used = rnd.randint(0, per)
        state = rnd.choice(("idle", "mixed", "allocated", "drained", "down*", "mixed-"))
        parts = rnd.sample(_PARTS, rnd.choice((1, 1, 2)))
        for part in parts:
            lines.append(
                "|".join(
                    (
                        f"udc-an{i // 40}-{i % 40}",
                        part + ("*" if part == "standard" else ""),
                        state,
                        f"gpu:{gtype}:{per}(S:0-1)",
                        f"gpu:{gtype}:{used}(IDX:0-{max(used - 1, 0)})",
                        f"{used * 4}/{128 - used * 4}/0/128",
                        "1000000",
                        str(used * 32000),
                        "gpupod,a100_80gb,rivanna",
                        "none" if state in ("idle", "mixed") else "Not responding",
                    )
                )
                + "|"
            )
        i += 1
    return "\n".join(lines[: n + 1]) + "\n"
