"""The faces of GPU telemetry on real jobs: %rv_gpus, alloc.gpus(), the panel's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rv_jupyter.cluster.background import run_sync
from rv_jupyter.cluster.handle import Cluster
from rv_jupyter.cluster.poller import Poller
from rv_jupyter.telemetry.sampler import running_sampler, sampler_for
from rv_jupyter.telemetry.view import GpuView
from rv_jupyter.widgets import Panel
from rv_jupyter.widgets.gpus import GpuWidget
from tests.cluster.conftest import wait_running
from tests.cluster.test_telemetry import samplers_on_nodes, until

pytestmark = pytest.mark.usefixtures("no_jobs_left")


def a_job(cluster: Cluster, args: str) -> str:
    job = cluster.run(f"sbatch --parsable {args} -t 5 -o /dev/null --wrap 'sleep 300'").strip()
    wait_running(job)
    return job


def test_rv_gpus_shows_both_nodes_move_and_closing_ends_the_steps(a_cluster: Cluster) -> None:
    job = a_job(a_cluster, "-p gpu-a6000 -N2 --gres=gpu:a6000:2")
    widget = GpuWidget.watch(sampler_for(a_cluster, job), every_s=0.2)
    first, second = sorted(widget.sampler.nodes)
    until(lambda: f"{first}:1" in widget.values.value and f"{second}:1" in widget.values.value,
          what="both nodes' GPUs in the view")  # fmt: skip
    a_cluster.run(
        f"srun --jobid={job} --overlap -w {second} -N1 -n1 sh -c "
        f"'rv-fake-load --util 90 --mem 8G --seconds 60 --gpu 0 >/dev/null 2>&1 &'"
    )
    until(lambda: "90 %" in widget.values.value, what="the load in the latest values")
    until(lambda: widget.plots.value.count(f"stroke='{widget.colors[f'{second}:0']}'") == 3,
          what="the loaded GPU's line in all three plots")  # fmt: skip
    assert widget.sampler.channels_opened == 2
    widget.close()
    until(lambda: not samplers_on_nodes(), timeout=15, what="nvidia-smi to end on the nodes")


def test_gpus_reads_a_table_and_its_lease_lapses(a_cluster: Cluster) -> None:
    job = a_job(a_cluster, "-p gpu-a6000 --gres=gpu:a6000:2")
    view = GpuView(sampler_for(a_cluster, job), lease_s=3)
    run_sync(view.aready())
    latest = view.latest()
    # An A6000's memory, as the stand-in reports it.
    assert len(latest) == 2 and set(latest["mem_total_mib"]) == {49140}
    assert len(view.history()) >= 2
    until(lambda: not samplers_on_nodes(), timeout=15, what="the lease to lapse")


def test_mig_says_why_utilisation_is_missing(a_cluster: Cluster) -> None:
    job = a_job(a_cluster, "-p gpu-mig --gres=gpu:1g.10gb:1")
    widget = GpuWidget.watch(sampler_for(a_cluster, job), every_s=0.2)
    try:
        until(lambda: "MIG slice" in widget.notes.value, what="the MIG note")
        assert "utilization.gpu is [N/A]" in widget.notes.value and "MiB" in widget.values.value
    finally:
        widget.close()


def test_the_panel_starts_no_sampling_and_its_button_opens_the_view(
    a_cluster: Cluster, tmp_path: Path
) -> None:
    job = a_job(a_cluster, "-p gpu-a6000 --gres=gpu:a6000:1")
    poller = Poller(a_cluster, fast_s=0.5, idle_s=0.5, max_idle_s=0.5, shared=tmp_path)
    panel = Panel(a_cluster, poller=poller)
    try:
        until(lambda: job in panel.gpu_lines, what="the job's GPU line")
        assert "not sampled" in panel.gpu_lines[job].text.value
        assert not samplers_on_nodes() and running_sampler(a_cluster, job) is None
        panel.gpu_lines[job].open.click()
        until(lambda: "1 GPU: util" in panel.gpu_lines[job].text.value, what="the summary")
    finally:
        panel.close()
    until(lambda: not samplers_on_nodes(), timeout=15, what="the view's watch to end")
