"""Execute round trip of a trivial cell: a remote kernel (rv-slurm provisioner, in a job on
the mini-Rivanna, through SSH into the node) against a local ipykernel, side by side.

Both kernels start first; then the cells alternate between them so machine noise hits
both alike. A round trip is execute_request sent -> execute_reply received with the
kernel back to idle. The last line is
`kernel_rtt_ratio=<remote/local> remote_ms=<median> local_ms=<median>` (target ratio <= 1.5).
Needs RV_CONFIG pointing at the mini-Rivanna (`RV_CONFIG=$(tests/cluster/up | tail -1)`).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from rv_jupyter.kernels.spec import install, kernel_json

SAMPLES = 200
WARMUP = 20


def round_trip(kc: Any) -> float:
    t0 = time.perf_counter()
    msg_id = kc.execute("1", silent=False, store_history=False)
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            break
    kc.get_shell_msg(timeout=30)
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    config = os.environ.get("RV_CONFIG")
    if not config:
        print("RV_CONFIG must point at the mini-Rivanna's rv config", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        kernels = Path(tmp)
        name = install(kernel_json(gpus=1, gpu_type="mig", time="20m", rv_config=config),
                       kernels).name  # fmt: skip
        ksm = KernelSpecManager(kernel_dirs=[tmp])
        remote = KernelManager(kernel_name=name, kernel_spec_manager=ksm)
        local = KernelManager(kernel_name="python3")
        managers = [remote, local]
        clients = []
        try:
            for km in managers:
                km.start_kernel()
                kc = km.client()
                kc.start_channels()
                kc.wait_for_ready(timeout=120)
                clients.append(kc)
            times: list[list[float]] = [[], []]
            for i in range(WARMUP + SAMPLES):
                for k, kc in enumerate(clients):
                    t = round_trip(kc)
                    if i >= WARMUP:
                        times[k].append(t)
        finally:
            for kc in clients:
                kc.stop_channels()
            for km in managers:
                if km.has_kernel:
                    km.shutdown_kernel(now=False)
    r, lo = statistics.median(times[0]), statistics.median(times[1])
    print(f"remote kernel (rv-slurm, mini-Rivanna): median {r:6.2f} ms over {SAMPLES} cells")
    print(f"local ipykernel:                        median {lo:6.2f} ms over {SAMPLES} cells")
    print(f"kernel_rtt_ratio={r / lo:.2f} remote_ms={r:.2f} local_ms={lo:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
