"""sinfo: GRES with socket suffixes, used GRES, odd states, a node per partition merged."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.slurm import NodeState, node_state, parse_sinfo, sinfo

H = "NODELIST|PARTITION|STATE|GRES|GRES_USED|CPUS(A/I/O/T)|MEMORY|ALLOCMEM|AVAIL_FEATURES|REASON|"


def test_recorded_mini_rivanna(recorded: Callable[[str], str]) -> None:
    nodes = {n.name: n for n in parse_sinfo(recorded("sinfo.mini-rivanna.txt"))}
    assert len(nodes) == 11, "udc-cpu-* appear once per partition and must be merged"
    assert nodes["udc-cpu-1"].partitions == ("standard", "parallel")
    assert nodes["udc-cpu-1"].state is NodeState.mixed
    assert (nodes["udc-cpu-1"].cpus_alloc, nodes["udc-cpu-1"].cpus_idle) == (2, 38)
    mig = nodes["udc-mig-1"]
    assert (mig.gpu_type, mig.gpus_total, mig.gpus_used, mig.gpus_free) == ("1g.10gb", 8, 1, 7)
    assert mig.alloc_mem_mb == 4000 and mig.memory_mb == 256000
    a100 = nodes["udc-a100-2"]
    assert a100.features == ("gpupod", "a100_80gb") and a100.gpus_free == 8
    assert nodes["udc-cpu-2"].gpu_type is None and nodes["udc-cpu-2"].gpus_total == 0
    assert all(n.reason is None and n.extra == {} for n in nodes.values())


def test_uva_style_rows_with_sockets_suffixed_states_and_reasons() -> None:
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
            "udc-aj38-1|gpu|mixed|gpu:v100:2(S:0),gpu:v100:2(S:1),nvme:1|"
            "gpu:v100:1(IDX:0),gpu:v100:2(IDX:2-3),nvme:0|8/32/0/40|384000|64000|v100|none|",
            "udc-xx-1|gpu|idle|gpu:4(S:0-1)|gpu:1(IDX:3)|0/8/0/8|1000|0||none|",
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
    assert (cpu.gpu_type, cpu.gpus_total, cpu.state, cpu.features) == (None, 0, NodeState.idle, ())
    v100 = nodes["udc-aj38-1"]
    assert (v100.gpu_type, v100.gpus_total, v100.gpus_used) == ("v100", 4, 3)
    untyped = nodes["udc-xx-1"]
    assert (untyped.gpu_type, untyped.gpus_total, untyped.gpus_used) == (None, 4, 1)


def test_unknown_columns_are_kept_and_reordering_is_fine() -> None:
    text = "STATE|NODELIST|WEIGHT|PARTITION|GRES|\nidle|n1|10|gpu|gpu:v100:4|\n"
    (node,) = parse_sinfo(text)
    assert (node.name, node.gpus_total, node.state) == ("n1", 4, NodeState.idle)
    assert node.extra == {"WEIGHT": "10"}


def test_a_delimiter_inside_the_reason_stays_in_it() -> None:
    text = H + "\nn1|gpu|drained|gpu:a40:8|gpu:a40:0|0/0/32/32|1|0|a40|bad gpu | see ticket 12|\n"
    (node,) = parse_sinfo(text)
    assert node.reason == "bad gpu | see ticket 12"
    assert node.state is NodeState.drain


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("idle", NodeState.idle), ("mix-", NodeState.mixed), ("mixed-", NodeState.mixed),
        ("mix", NodeState.mixed), ("alloc", NodeState.allocated), ("alloc+", NodeState.allocated),
        ("allocated+", NodeState.allocated), ("comp", NodeState.allocated),
        ("completing", NodeState.allocated), ("drain*", NodeState.drain),
        ("drain", NodeState.drain), ("drained", NodeState.drain), ("draining", NodeState.drain),
        ("drng", NodeState.drain), ("idle~", NodeState.idle), ("idle#", NodeState.idle),
        ("idle*", NodeState.down), ("inval", NodeState.down), ("down*", NodeState.down),
        ("fail", NodeState.down), ("not_responding", NodeState.down), ("resv", NodeState.reserved),
        ("reserved", NodeState.reserved), ("maint", NodeState.reserved),
        ("idle$", NodeState.reserved),
        ("plnd", NodeState.reserved), ("planned", NodeState.reserved),
        ("IDLE+DRAIN", NodeState.drain), ("MIXED+MAINT", NodeState.reserved),
        ("unk", NodeState.unknown), ("weird-new-state", NodeState.unknown), ("", NodeState.unknown),
    ],
)  # fmt: skip
def test_node_states(raw: str, state: NodeState) -> None:
    assert node_state(raw) is state


def test_raw_state_is_kept_beside_the_mapped_one() -> None:
    (node,) = parse_sinfo(H + "\nn1|gpu|future~|(null)|(null)|0/0/0/0|1|0||none|\n")
    assert (node.state, node.raw_state) == (NodeState.down, "future~")


def test_empty_output_is_no_nodes() -> None:
    assert parse_sinfo("") == []
    assert parse_sinfo(H + "\n") == []
    assert list(parse_sinfo(H).to_frame().columns)[:3] == ["name", "partitions", "state"]


def test_to_frame_has_a_row_per_node(recorded: Callable[[str], str]) -> None:
    df = parse_sinfo(recorded("sinfo.mini-rivanna.txt")).to_frame()
    assert len(df) == 11 and "extra" not in df.columns
    assert df.set_index("name").loc["udc-mig-1", "gpus_used"] == 1


def test_a_short_line_is_a_parse_error_showing_it() -> None:
    with pytest.raises(ParseError) as err:
        parse_sinfo(H + "\nudc-x|gpu\n")
    assert "udc-x|gpu" in str(err.value)


def test_an_error_instead_of_a_header_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="NODELIST") as err:
        parse_sinfo("sinfo: error: Unable to contact slurm controller (connect failure)\n")
    assert "Unable to contact" in str(err.value)


def test_command_keeps_values_whole_and_reason_last() -> None:
    # Every field carries a `|` suffix: without one Slurm pads and cuts at 20 characters.
    fields = sinfo.COMMAND.split(" -O ", 1)[1].split(",")
    assert all(f.endswith(":'|'") for f in fields)
    assert fields[-1].startswith("Reason") and sinfo.COMMAND.startswith("sinfo --Node ")
