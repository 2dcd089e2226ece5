"""Requests: user-typed values, and limits named in the error before anything is submitted."""

from __future__ import annotations

import pytest

from rv_jupyter.allocator.request import Request, compatible_types, parse_mem, parse_time
from rv_jupyter.errors import RequestError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 5400), ("2h", 7200), ("1.5h", 5400), ("2h30m", 9000), ("3d", 259200),
     ("2:59:00", 10740), ("1:30", 5400), ("2-00:00:00", 172800), (45, 45)],
)  # fmt: skip
def test_times(text: str, seconds: int) -> None:
    assert parse_time(text) == seconds


@pytest.mark.parametrize(
    "text", ["soon", "2x", "", "h2", "٣h", "²", "1:99", "2:30:75", "9" * 400 + "h",
             "1" * 7 + "h"],
)  # fmt: skip
def test_unreadable_time_says_how_to_write_it(text: str) -> None:
    with pytest.raises(RequestError, match="2h30m") as err:
        parse_time(text)
    assert len(err.value.message) < 120  # the input is cut, not echoed whole


@pytest.mark.parametrize("text", ["2", "45", " 3 ", "1.5", "9" * 8])
def test_a_bare_number_shows_both_readings_and_pasteable_fixes(text: str) -> None:
    with pytest.raises(RequestError) as err:
        parse_time(text)
    n = text.strip()
    assert f"{n} minutes" in err.value.message and f"{n} hours" in err.value.message
    assert f"--time {n}h" in str(err.value.hint) and f"--time {n}m" in str(err.value.hint)


def test_a_400_digit_number_is_cut_in_the_message() -> None:
    with pytest.raises(RequestError, match="no unit") as err:
        parse_time("9" * 400)
    assert len(err.value.message) < 120


@pytest.mark.parametrize("text", ["31d", "745h", "99999:00:00", "999999d", "2h" * 400])
def test_totals_beyond_the_cap_are_refused_naming_it(text: str) -> None:
    with pytest.raises(RequestError, match="at most 30 days"):
        parse_time(text)


@pytest.mark.parametrize("text", ["99T", "٣G", "9" * 400 + "G", "lots"])
def test_unreadable_or_absurd_memory(text: str) -> None:
    with pytest.raises(RequestError):
        compatible_types(Request.build(mem=text))


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
        (dict(gpu_type="mig", mem="32G"), "at most 16 GB of memory; you asked 32", "--mem 16G"),
        (dict(gpu_type="a6000", mem="300G"), "nodes have 256 GB", "--mem 256G"),
        (dict(mem="99T"), "No GPU type can serve", "less memory"),
        (dict(gpu_type="rtx3090", time="13h", checkpoint=True), "not checkpoint segments",
         "--type any"),
        (dict(gpu_type="rtx3090", time="4h", segment="1h"), "not checkpoint segments",
         "--type any"),
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


def test_hints_are_pasteable() -> None:
    with pytest.raises(RequestError) as err:
        compatible_types(Request.build(gpu_type="rtx3090", time="13h"))
    assert "--time 12h," in str(err.value.hint)


def test_a_checkpointed_long_request_never_plans_the_interactive_partition() -> None:
    ok, skipped = compatible_types(Request.build(time="13h", checkpoint=True))
    assert "rtx3090" not in {t.key for t in ok}
    assert "interactive work" in skipped["rtx3090"]
    # A short interactive-sized request still may use it.
    ok, _ = compatible_types(Request.build(time="2h"))
    assert "rtx3090" in {t.key for t in ok}


def test_memory_over_a_type_skips_only_that_type() -> None:
    ok, skipped = compatible_types(Request.build(mem="64G"))
    assert "mig" not in {t.key for t in ok} and "16 GB" in skipped["mig"]
    assert "a6000" in {t.key for t in ok}


def test_any_type_skips_what_cannot_serve_and_says_why() -> None:
    ok, skipped = compatible_types(Request.build(gpus=4, time="2h"))
    assert {t.key for t in ok} == {"a6000", "a40", "a100_40", "a100_80", "v100", "h200"}
    assert skipped["rtx3090"] == "at most 2 per user; you asked 4"
    assert "1-GPU" in skipped["mig"]


def test_each_request_has_its_own_tag() -> None:
    a, b = Request(), Request()
    assert a.tag != b.tag and a.tag.startswith("rv:")


def test_a_misspelt_field_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(RequestError, match="Unknown request field 'tpye'") as err:
        Request.build(gpus=4, tpye="a100_80")
    assert "gpu_type" in str(err.value.hint) and "time" in str(err.value.hint)
