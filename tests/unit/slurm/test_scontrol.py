"""scontrol show: Key=Value records whose values hold spaces and `=`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import parse_scontrol, scontrol


def test_recorded_node_multi_line(recorded: Callable[[str], str]) -> None:
    (node,) = parse_scontrol(recorded("scontrol_node.mini-rivanna.txt"))
    assert node.node_name == "udc-a6k-1" and node.node_addr == "10.213.0.13"
    assert node.gres == "gpu:a6000:8" and node.gpus() == ("a6000", 8)
    assert node.get("OS") == "Linux 6.18.44-fc-v657 #1 SMP PREEMPT_DYNAMIC @0"
    assert node.tres("CfgTRES")["gres/gpu"] == "8"
    assert node.tres() == {"cpu": "1", "mem": "4000M", "gres/gpu": "3", "gres/gpu:a6000": "3"}
    assert node.state == "MIXED" and node.get("Partitions") == "gpu-a6000"


def test_recorded_nodes_one_line_each(recorded: Callable[[str], str]) -> None:
    one, two = parse_scontrol(recorded("scontrol_nodes.mini-rivanna.txt"))
    assert (one.node_name, two.node_name) == ("udc-cpu-1", "udc-cpu-2")
    assert one.gres is None and one.gpus() == (None, 0)
    assert one.get("Partitions") == "standard,parallel"
    assert two.get("AllocTRES") == "" and two.tres() == {}


def test_recorded_job_one_line(recorded: Callable[[str], str]) -> None:
    (job,) = parse_scontrol(recorded("scontrol_job.mini-rivanna.txt"))
    assert job.job_id == "17" and job.state == "RUNNING"
    assert job.get("JobName") == "we|ird name"
    assert job.gres == "gres:gpu:a6000:3" and job.gpus() == ("a6000", 3)
    assert job.tres("TRES")["gres/gpu:a6000"] == "3"
    assert job.get("Power") == "" and job.get("AllocNode:Sid") == "localhost:17214"


def test_recorded_array_gives_a_record_per_task(recorded: Callable[[str], str]) -> None:
    pending, running = parse_scontrol(recorded("scontrol_array.mini-rivanna.txt"))
    assert (pending.job_id, pending.get("ArrayTaskId"), pending.state) == (
        "913",
        "2-3%1",
        "PENDING",
    )
    assert running.get("ArrayJobId") == "913" and running.state == "RUNNING"
    assert pending.get("NodeList") == ""


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


def test_lowercase_words_with_equals_stay_in_the_value() -> None:
    (job,) = parse_scontrol(
        "JobId=5 JobName=train Comment=lr=0.1 bs=32 Command=/a b/run.sh --x=1 WorkDir=/w\n"
    )
    assert job.get("Comment") == "lr=0.1 bs=32"
    assert job.get("Command") == "/a b/run.sh --x=1" and job.get("WorkDir") == "/w"


def test_nothing_to_show_is_no_records() -> None:
    assert parse_scontrol("No jobs in the system\n") == []
    assert parse_scontrol("") == []


def test_text_without_pairs_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as err:
        parse_scontrol("slurm_load_jobs error: Invalid job id specified\n")
    assert "Invalid job id" in str(err.value)


def test_commands_quote_their_argument() -> None:
    assert scontrol.show_job_command("1; id") == "scontrol -o show job '1; id'"
    assert scontrol.show_node_command("udc-an28-[1-2]") == "scontrol -o show node 'udc-an28-[1-2]'"
    assert scontrol.show_node_command() == "scontrol -o show node"
