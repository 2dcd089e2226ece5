"""sinfo: GRES with socket suffixes, used GRES, odd states, a node per partition merged."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import NodeState, parse_sinfo, sinfo
from rv_jupyter.slurm.states import node_state

H = "NODELIST|PARTITION|STATE|GRES|GRES_USED|CPUS(A/I/O/T)|MEMORY|ALLOCMEM|AVAIL_FEATURES|REASON|"


def test_recorded_mini_rivanna(recorded: Callable[[str], str]) -> None:
    nodes = {n.name: n for n in parse_sinfo(recorded("sinfo.mini-rivanna.txt"))}
    assert len(nodes) == 11, "udc-cpu-* appear once per partition and must be merged"
    assert set(nodes["udc-cpu-1"].partitions) == {"standard", "parallel"}
    a6k = nodes["udc-a6k-1"]
    assert (a6k.gpu_type, a6k.gpus_total, a6k.gpus_used) == ("a6000", 8, 3)
    assert a6k.state is NodeState.mixed and a6k.gpus_free == 5
    assert nodes["udc-a100-2"].features == ("gpupod", "a100_80gb")
    assert nodes["udc-mig-1"].gpu_type == "1g.10gb"
    assert nodes["udc-a6k-1"].reason is None


def test_uva_style_rows() -> None:
    text = "\n".join(
        [
            H,
            "udc-an28-1|gpu|mix-|gpu:a6000:8(S:0-47)|gpu:a6000:6(IDX:0-5)|24/72/0/96|257000|"
            "200000|a6000,gpu|none|",
            "udc-an28-1|interactive|mix-|gpu:a6000:8(S:0-47)|gpu:a6000:6(IDX:0-5)|24/72/0/96|"
            "257000|200000|a6000,gpu|none|",
            "udc-an36-1|gpu|drain*|gpu:a100:8(S:0-1)|gpu:a100:0(IDX:N/A)|0/0/128/128|1000000|0|"
            "a100_80gb|Not responding [root@2024-01-01T00:00:00]|",
            "udc-ba25-1|standard|idle~|(null)|gpu:0|0/40/0/40|384000|0|(null)|none|",
        ]
    )
    nodes = {n.name: n for n in parse_sinfo(text)}
    assert nodes["udc-an28-1"].partitions == ("gpu", "interactive")
    assert nodes["udc-an28-1"].gpus_free == 2
    down = nodes["udc-an36-1"]
    assert down.state is NodeState.drain and down.gpus_free == 0
    assert down.reason == "Not responding [root@2024-01-01T00:00:00]"
    assert down.cpus_total == 128
    cpu = nodes["udc-ba25-1"]
    assert (cpu.gpu_type, cpu.gpus_total, cpu.state) == (None, 0, NodeState.idle)


def test_unknown_columns_are_kept_and_reordering_is_fine() -> None:
    text = "STATE|NODELIST|WEIGHT|PARTITION|GRES\nidle|n1|10|gpu|gpu:v100:4\n"
    (node,) = parse_sinfo(text)
    assert (node.name, node.gpus_total, node.extra) == ("n1", 4, {"WEIGHT": "10"})


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("idle", NodeState.idle), ("mix-", NodeState.mixed), ("mixed-", NodeState.mixed),
        ("alloc", NodeState.allocated), ("allocated+", NodeState.allocated),
        ("drain*", NodeState.drain), ("draining", NodeState.drain), ("drng", NodeState.drain),
        ("idle~", NodeState.idle), ("idle*", NodeState.down), ("inval", NodeState.down),
        ("down*", NodeState.down), ("resv", NodeState.reserved), ("reserved", NodeState.reserved),
        ("planned", NodeState.reserved), ("IDLE+DRAIN", NodeState.drain),
        ("MIXED+MAINT", NodeState.reserved), ("completing", NodeState.allocated),
        ("weird-new-state", NodeState.unknown), ("", NodeState.unknown),
    ],
)  # fmt: skip
def test_node_states(raw: str, state: NodeState) -> None:
    assert node_state(raw) is state


def test_empty_output_is_no_nodes() -> None:
    assert parse_sinfo("") == []


def test_a_short_line_is_a_parse_error_showing_it() -> None:
    with pytest.raises(ParseError) as err:
        parse_sinfo(H + "\nudc-x|gpu\n")
    assert "udc-x|gpu" in str(err.value)


def test_missing_node_column_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="NODELIST"):
        parse_sinfo("sinfo: error: Unable to contact slurm controller\n")


def test_command_keeps_values_whole() -> None:
    # Every field carries a `|` suffix: without one Slurm pads and cuts at 20 characters.
    fields = sinfo.COMMAND.split(" -O ", 1)[1].split(",")
    assert all(f.endswith(":'|'") for f in fields)
