"""Requests: user-typed values, and limits named in the error before anything is submitted."""

from __future__ import annotations

import pytest

from rv_jupyter.allocator.request import Request, compatible_types, parse_mem, parse_time
from rv_jupyter.errors import RequestError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 5400), ("2h", 7200), ("1.5h", 5400), ("2h30m", 9000), ("3d", 259200),
     ("2:59:00", 10740), ("1:30", 5400), ("2-00:00:00", 172800), ("45", 2700)],
)  # fmt: skip
def test_times(text: str, seconds: int) -> None:
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["soon", "2x", "", "h2"])
def test_unreadable_time_says_how_to_write_it(text: str) -> None:
    with pytest.raises(RequestError, match="2h30m"):
        parse_time(text)


@pytest.mark.parametrize(("text", "gb"), [("64G", 64), ("64GB", 64), ("1T", 1024), ("512M", 1)])
def test_memory(text: str, gb: int) -> None:
    assert parse_mem(text) == gb


@pytest.mark.parametrize(
    ("fields", "message", "hint"),
    [
        (dict(gpus=5, gpu_type="h200"), "at most 4 per user; you asked 5", "--gpu 4"),
        (dict(gpu_type="rtx3090", time="13h"), "interactive-rtx3090 allows 12 h", "--checkpoint"),
        (dict(gpus=40), "at most 32 GPUs per user", "--gpu 32"),
        (dict(gpu_type="mig", gpus=2), "at most 1 per job", "--gpu 1"),
        (dict(gpu_type="v100", vram_gb=40), "32 GB of VRAM", "--type any"),
        (dict(gpus=8, time="4d"), "No GPU type can serve", "fewer GPUs"),
    ],
)  # fmt: skip
def test_impossible_requests_name_the_limit(fields: dict, message: str, hint: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(RequestError) as err:
        compatible_types(Request.build(**fields))
    assert message in err.value.message
    assert err.value.hint and hint in err.value.hint


@pytest.mark.parametrize(
    ("fields", "flag"),
    [(dict(gpu_type="b300"), "--type"), (dict(gpus=0), "--gpu"), (dict(name="a b"), "--name"),
     (dict(name="x;rm -rf ~"), "--name")],
)  # fmt: skip
def test_bad_values_name_the_flag(fields: dict, flag: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(RequestError) as err:
        Request.build(**fields)
    assert err.value.message.startswith(flag)


def test_any_type_skips_what_cannot_serve_and_says_why() -> None:
    ok, skipped = compatible_types(Request.build(gpus=4, time="2h"))
    assert {t.key for t in ok} == {"a6000", "a40", "a100_40", "a100_80", "v100", "h200"}
    assert skipped["rtx3090"] == "at most 2 per user; you asked 4"
    assert "1-GPU" in skipped["mig"]


def test_each_request_has_its_own_tag() -> None:
    a, b = Request(), Request()
    assert a.tag != b.tag and a.tag.startswith("rv:")
