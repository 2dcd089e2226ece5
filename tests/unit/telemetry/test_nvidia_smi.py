"""nvidia-smi's CSV and -L outputs: units, placeholders, MIG, headers, free text."""

from __future__ import annotations

from pathlib import Path

import pytest

from rv_jupyter.errors import ParseError
from rv_jupyter.telemetry import Unavailable, parse_compute_apps, parse_gpu_list, parse_query_gpu

FIELDS = ["index", "uuid", "name", "utilization.gpu", "memory.used", "memory.total",
          "power.draw", "temperature.gpu", "clocks.sm"]  # fmt: skip

WITH_UNITS = (Path(__file__).parent / "data" / "query_gpu.h200.txt").read_text()


def test_units_are_dropped_and_rows_keep_their_order() -> None:
    rows = parse_query_gpu(WITH_UNITS, FIELDS)
    assert [(r.text("uuid") or "")[-1:] for r in rows] == ["1", "0"]  # not re-sorted
    busy = rows[0]
    assert busy.number("utilization.gpu") == 97.0 and busy.number("memory.used") == 130013
    assert busy.number("power.draw") == 612.40 and busy.text("name") == "NVIDIA H200"
    assert busy.number("index") == 1.0


def test_nounits_and_noheader() -> None:
    nounits = "index, utilization.gpu [%], memory.used [MiB]\n0, 45, 2048\n"
    assert parse_query_gpu(nounits, ["index", "utilization.gpu", "memory.used"])[0].values == {
        "index": 0.0, "utilization.gpu": 45.0, "memory.used": 2048.0,
    }  # fmt: skip
    noheader = "0, 45, 2048\n1, 0, 0\n"
    rows = parse_query_gpu(noheader, ["index", "utilization.gpu", "memory.used"])
    assert [r.number("index") for r in rows] == [0.0, 1.0]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("[N/A]", "N/A"), ("[Not Supported]", "Not Supported"), ("[Unknown Error]", "Unknown Error"),
     ("[GPU requires reset]", "GPU requires reset"), ("[Not Found]", "Not Found"),
     ("[Requested functionality has been deprecated]", "Deprecated"), ("N/A", "N/A"),
     ("[Something New]", "Something New")],
)  # fmt: skip
def test_every_placeholder_is_kept_as_its_reason_never_a_zero(raw: str, reason: str) -> None:
    (row,) = parse_query_gpu(f"0, {raw}\n", ["index", "power.draw"])
    assert row.get("power.draw") == Unavailable(reason=reason)
    assert row.number("power.draw") is None and row.unavailable("power.draw") == reason


def test_mig_device_utilisation_is_unavailable_and_reset_gpu_keeps_memory() -> None:
    text = (
        "index, name, utilization.gpu [%], memory.used [MiB]\n"
        "0, NVIDIA A100-SXM4-80GB, [N/A], 10045 MiB\n"
        "1, NVIDIA A100-SXM4-40GB, [GPU requires reset], 0 MiB\n"
    )
    mig, reset = parse_query_gpu(text, ["index", "name", "utilization.gpu", "memory.used"])
    assert mig.unavailable("utilization.gpu") == "N/A" and mig.number("memory.used") == 10045
    assert reset.unavailable("utilization.gpu") == "GPU requires reset"
    assert reset.number("memory.used") == 0.0


def test_a_looping_query_repeats_its_header() -> None:
    text = "index, utilization.gpu [%]\n0, 10 %\nindex, utilization.gpu [%]\n0, 20 %\n"
    rows = parse_query_gpu(text, ["index", "utilization.gpu"])
    assert [r.number("utilization.gpu") for r in rows] == [10.0, 20.0]


def test_names_with_spaces_and_unknown_gpus() -> None:
    text = "0, NVIDIA GeForce GTX 1080 Ti, 11264 MiB\n1, Some Future GPU 9000 Ultra, 1 MiB\n"
    rows = parse_query_gpu(text, ["index", "name", "memory.total"])
    assert [r.text("name") for r in rows] == ["NVIDIA GeForce GTX 1080 Ti",
                                             "Some Future GPU 9000 Ultra"]  # fmt: skip


def test_a_wrong_field_count_names_the_line() -> None:
    with pytest.raises(ParseError, match="'0, 1, 2'"):
        parse_query_gpu("0, 1, 2\n", ["index", "utilization.gpu"])


def test_compute_apps_with_a_process_name_holding_the_separator() -> None:
    fields = ["gpu_uuid", "pid", "process_name", "used_memory"]
    text = (
        "gpu_uuid, pid, process_name, used_memory [MiB]\n"
        "GPU-aaaa, 4242, /home/u/.conda/envs/torch/bin/python, 30720 MiB\n"
        "GPU-bbbb, 77, C:\\Program Files\\App, Inc\\app.exe, 12 MiB\n"
    )
    py, win = parse_compute_apps(text, fields)
    assert py.number("pid") == 4242 and py.number("used_memory") == 30720
    assert win.text("process_name") == "C:\\Program Files\\App, Inc\\app.exe"
    # On vGPU hosts the header says `name` for `process_name`.
    vgpu = "gpu_uuid, pid, name, used_memory [MiB]\nGPU-x, 1, [Not Found], 5 MiB\n"
    (row,) = parse_compute_apps(vgpu, fields)
    assert row.unavailable("process_name") == "Not Found"
    assert parse_compute_apps("gpu_uuid, pid, process_name, used_memory [MiB]\n", fields) == []


def test_gpu_list_with_mig_devices_of_several_profiles() -> None:
    text = (
        "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-5d1c0000-aaaa-bbbb-cccc-000000000000)\n"
        "  MIG 1g.10gb     Device  0: (UUID: MIG-11111111-2222-3333-4444-555555555555)\n"
        "  MIG 3g.40gb     Device  1: (UUID: MIG-66666666-2222-3333-4444-555555555555)\n"
        "  MIG 1c.3g.71gb  Device  2: (UUID: MIG-77777777-2222-3333-4444-555555555555)\n"
        "GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-5d1c0000-aaaa-bbbb-cccc-000000000001)\n"
        "GPU 2: Tesla V100-SXM2-32GB\n"
    )
    gpus = parse_gpu_list(text)
    assert [(g.index, g.mig_profile, g.parent_index) for g in gpus] == [
        (0, None, None), (0, "1g.10gb", 0), (1, "3g.40gb", 0), (2, "1c.3g.71gb", 0),
        (1, None, None), (2, None, None),
    ]  # fmt: skip
    assert gpus[1].uuid and gpus[1].uuid.startswith("MIG-") and gpus[5].uuid is None
    with pytest.raises(ParseError):
        parse_gpu_list("  MIG 1g.10gb     Device  0: (UUID: MIG-1)\n")
