"""The mini-Rivanna's nvidia-smi and load program, read by the product's parsers."""

from __future__ import annotations

import pytest

from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.telemetry import parse_compute_apps, parse_gpu_list, parse_query_gpu
from tests.cluster.conftest import wait_running

pytestmark = pytest.mark.usefixtures("no_jobs_left")
FIELDS = ["index", "uuid", "name", "utilization.gpu", "memory.used", "memory.total"]


def a_job(cluster: Cluster, partition: str, gres: str) -> str:
    job = cluster.run(
        f"sbatch --parsable -p {partition} --gres=gpu:{gres} -t 5 -o /dev/null --wrap 'sleep 300'"
    ).strip()
    wait_running(job)
    return job


def in_job(cluster: Cluster, job: str, command: str) -> str:
    return cluster.run(f"srun --jobid={job} --overlap -N1 -n1 sh -c '{command}'")


def test_only_the_jobs_gpus_and_only_the_loaded_one_busy(a_cluster: Cluster) -> None:
    job = a_job(a_cluster, "gpu-a6000", "a6000:2")
    query = f"nvidia-smi --query-gpu={','.join(FIELDS)} --format=csv"
    out = in_job(a_cluster, job, f"rv-fake-load --util 90 --mem 30G --seconds 20 --gpu 1 & "
                                 f"sleep 1; {query}; kill $!")  # fmt: skip
    idle, busy = parse_query_gpu(out, FIELDS)
    assert (idle.number("index"), busy.number("index")) == (0.0, 1.0)  # the job's own numbering
    assert idle.text("name") == "NVIDIA RTX A6000" and idle.number("memory.total") == 49140
    assert idle.number("utilization.gpu") == 0 and busy.number("utilization.gpu") == 90
    assert busy.number("memory.used") == 30 * 1024 + 4
    # The load ended with its process: nothing stays busy.
    (_, after) = parse_query_gpu(in_job(a_cluster, job, query), FIELDS)
    assert after.number("utilization.gpu") == 0
    listed = parse_gpu_list(in_job(a_cluster, job, "nvidia-smi -L"))
    assert [g.uuid for g in listed] == [idle.text("uuid"), busy.text("uuid")]


def test_compute_apps_name_the_loading_process(a_cluster: Cluster) -> None:
    job = a_job(a_cluster, "gpu-a40", "a40:1")
    fields = ["gpu_uuid", "pid", "process_name", "used_memory"]
    query = f"nvidia-smi --query-compute-apps={','.join(fields)} --format=csv"
    out = in_job(a_cluster, job, f"rv-fake-load --mem 2G --seconds 20 & sleep 1; {query}; kill $!")
    (app,) = parse_compute_apps(out, fields)
    assert app.number("used_memory") == 2048 and app.number("pid")


def test_a_mig_slice_has_no_utilisation(a_cluster: Cluster) -> None:
    job = a_job(a_cluster, "gpu-mig", "1g.10gb:1")
    out = in_job(a_cluster, job, f"nvidia-smi --query-gpu={','.join(FIELDS)} --format=csv")
    (row,) = parse_query_gpu(out, FIELDS)
    assert row.unavailable("utilization.gpu") == "N/A"
    gpu, mig = parse_gpu_list(in_job(a_cluster, job, "nvidia-smi -L"))
    assert mig.mig_profile == "1g.10gb" and mig.parent_index == gpu.index
