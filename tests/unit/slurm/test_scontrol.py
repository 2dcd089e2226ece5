"""scontrol show: Key=Value records whose values hold spaces and `=`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import parse_scontrol, scontrol


def test_recorded_node_multi_line(recorded: Callable[[str], str]) -> None:
    (node,) = parse_scontrol(recorded("scontrol_node.mini-rivanna.txt"))
    assert node.node_name == "udc-a6k-1"
    assert node.node_addr == "10.213.0.13"
    assert node.get("Gres") == "gpu:a6000:8"
    assert node.tres("CfgTRES")["gres/gpu"] == "8"


def test_recorded_job_one_line(recorded: Callable[[str], str]) -> None:
    (job,) = parse_scontrol(recorded("scontrol_job.mini-rivanna.txt"))
    assert job.job_id is not None and job.job_id.isdigit()
    assert job.get("JobName") == "we|ird name"
    assert job.state == "RUNNING"


def test_values_with_spaces_and_several_records() -> None:
    text = (
        "NodeName=a1 Arch=x86_64 CoresPerSocket=1\n"
        "   OS=Linux 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian\n"
        "   State=DOWN+DRAIN Reason=Not responding [slurm@2026-01-01T00:00:00]\n"
        "   AllocTRES=cpu=4,mem=16G,gres/gpu=2\n"
        "\n"
        "NodeName=a2 State=IDLE\n"
    )
    a1, a2 = parse_scontrol(text)
    assert a1.get("OS") == "Linux 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian"
    assert a1.get("Reason") == "Not responding [slurm@2026-01-01T00:00:00]"
    assert a1.tres() == {"cpu": "4", "mem": "16G", "gres/gpu": "2"}
    assert a2.state == "IDLE"


def test_text_without_pairs_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as err:
        parse_scontrol("slurm_load_jobs error: Invalid job id specified\n")
    assert "Invalid job id" in str(err.value)


def test_commands_quote_their_argument() -> None:
    assert scontrol.show_job_command("1; id") == "scontrol -o show job '1; id'"
