"""Job scripts: the directives Slurm reads, and that no user value can run as code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from rv_jupyter.facts import GPU_TYPES
from rv_jupyter.jobs import JobSpec, cpus_per_task, memory_for, render
from rv_jupyter.jobs.script import Checkpoint, slurm_time
from tests.hostile import SHELL_PAYLOADS

HOSTILE = SHELL_PAYLOADS


def a_spec(**over: object) -> JobSpec:
    base: dict[str, object] = dict(
        name="train", user="abs6bd", command=("python", "train.py"), partition="gpu-a6000",
        time_s=3 * 3600 - 60, gres="gpu:a6000:2", cpus_per_task=8, mem_gb=96,
    )  # fmt: skip
    base.update(over)
    return JobSpec.model_validate(base)


def test_simple_script_directives() -> None:
    text = render(a_spec(account="mylab_paid", time_min_s=3600, constraint="a100_80gb"))
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    for want in [
        "#SBATCH --job-name=train",
        "#SBATCH --partition=gpu-a6000",
        "#SBATCH --time=02:59:00",
        "#SBATCH --time-min=01:00:00",
        "#SBATCH --gres=gpu:a6000:2",
        "#SBATCH --mem=96G",
        "#SBATCH --account=mylab_paid",
        "#SBATCH --constraint=a100_80gb",
        "#SBATCH --output=/scratch/abs6bd/.rv/logs/%x-%j.out",
        "#SBATCH --error=/scratch/abs6bd/.rv/logs/%x-%j.err",
        "export OMP_NUM_THREADS=8",
        "export TOKENIZERS_PARALLELISM=false",
    ]:
        assert want in lines
    assert "--nodelist" not in text
    assert lines[-4:] == [
        "setsid python train.py &",
        "rv_pg=$!",
        'while :; do wait "$rv_pg"; rv_status=$?; kill -0 "$rv_pg" 2>/dev/null || break; done',
        'exit "$rv_status"',
    ]


@pytest.mark.parametrize(
    ("s", "want"), [(60, "00:01:00"), (61, "00:02:00"), (3 * 86400, "3-00:00:00")]
)
def test_slurm_time(s: int, want: str) -> None:
    assert slurm_time(s) == want


@pytest.mark.parametrize("field", ["name", "partition", "account", "constraint", "gres"])
@pytest.mark.parametrize("value", ["a b", "x\n#SBATCH --nodelist=evil", "$(id)", "a;b", ""])
def test_sbatch_line_values_must_be_plain_words(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as err:
        a_spec(**{field: value})
    assert field in str(err.value)


def _run_locally(spec: JobSpec, tmp: Path) -> subprocess.CompletedProcess[str]:
    # Execute the script with bash outside Slurm: only the shell's quoting is under test.
    env = {**os.environ, "SLURM_JOB_ID": "42", "SLURM_JOB_NAME": spec.name, "HOME": str(tmp)}
    return subprocess.run(
        ["bash", "-c", render(spec)], capture_output=True, text=True, env=env, timeout=30
    )


@pytest.mark.parametrize("template", HOSTILE)
def test_no_user_value_executes(template: str, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    payload = template.format(canary=canary)
    workdir = tmp_path / payload.replace("/", "_").replace("\n", "_")[:40]
    workdir.mkdir()
    env_file = tmp_path / "job.env"
    env_file.write_text("SECRET_TOKEN=s3cr3t\n")
    echo = (
        "import json,os,sys; print(json.dumps([sys.argv[1:], os.getcwd(),"
        " os.environ['HF_HOME'], os.environ.get('SECRET_TOKEN')]))"
    )
    spec = a_spec(
        command=(sys.executable, "-c", echo, payload, "--flag=" + payload),
        workdir=str(workdir),
        modules=(payload,),
        env_file=str(env_file),
        cache_env={"HF_HOME": payload},
        scratch_root=str(tmp_path / "scratch"),
    )
    done = _run_locally(spec, tmp_path)
    assert done.returncode == 0, done.stderr
    argv, cwd, hf_home, secret = json.loads(done.stdout.strip().splitlines()[-1])
    assert argv == [payload, "--flag=" + payload]
    assert cwd == str(workdir)
    assert hf_home == payload
    assert secret == "s3cr3t"
    assert not env_file.exists(), "the env file must be deleted once read"
    assert not canary.exists(), f"{payload!r} executed"
    assert "s3cr3t" not in render(spec)


@pytest.mark.parametrize("kind", ["multinode", "ray"])
def test_multi_node_scripts_are_valid_bash(kind: str) -> None:
    text = render(a_spec(kind=kind, nodes=2, gres="gpu:a6000:4"))
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
    assert "#SBATCH --ntasks-per-node=1" in text
    if kind == "multinode":
        assert "export NODE_RANK=$SLURM_PROCID" in text
        assert "MASTER_ADDR" in text and "MASTER_PORT" in text and "NNODES" in text


def test_checkpoint_segments_carry_elapsed_time() -> None:
    text = render(a_spec(kind="checkpoint", checkpoint=Checkpoint(total_s=8 * 3600), time_s=7200))
    assert "#SBATCH --signal=B:USR1@600" in text
    assert "RV_ELAPSED_S" in text
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


def test_shapes_are_checked() -> None:
    with pytest.raises(ValidationError, match="checkpoint"):
        a_spec(kind="checkpoint")
    with pytest.raises(ValidationError, match="nodes >= 2"):
        a_spec(kind="multinode")
    with pytest.raises(ValidationError):
        Checkpoint(total_s=3600, buffer_s=30)


def test_resources_follow_rivanna_rules() -> None:
    mig, a6000, a100 = GPU_TYPES["mig"], GPU_TYPES["a6000"], GPU_TYPES["a100_80"]
    assert cpus_per_task(mig, 1) == 1
    assert memory_for(mig, 1, asked_gb=64) == 16
    assert cpus_per_task(a6000, 2) == 8
    assert cpus_per_task(a6000, 8) == 32
    assert memory_for(a6000, 2) == 96  # 256 * 2/8 * 1.5
    assert memory_for(a100, 8) == 900  # capped at 90% of the node
    assert memory_for(GPU_TYPES["v100"], 1) is None


def test_caches_go_to_scratch_unless_overridden() -> None:
    text = render(a_spec(cache_env={"HF_HOME": "/project/lab/hf"}))
    assert "export UV_CACHE_DIR=/scratch/abs6bd/.cache/uv" in text
    assert "export PIP_CACHE_DIR=/scratch/abs6bd/.cache/pip" in text
    assert "export HF_HOME=/project/lab/hf" in text
    assert "/scratch/abs6bd/.cache/huggingface" not in text


def test_golden_simple_script() -> None:
    golden = Path(__file__).parent / "golden" / "simple.sh"
    text = render(
        a_spec(
            account="mylab_paid", modules=("cuda/12.8.0",), env_file="/scratch/abs6bd/.rv/env/x.env"
        )
    )
    # A change here is a change to every job users submit: update the golden on purpose.
    assert text == golden.read_text()
