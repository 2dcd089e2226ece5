"""Kernelspecs for Rivanna kernels: names, options, logos, and never overwriting one
silently; the Slurm job names of their kernels."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from rv_jupyter.errors import RequestError
from rv_jupyter.kernels import logo
from rv_jupyter.kernels.spec import install, installed, job_name, kernel_json, spec_name


def test_names_say_what_the_kernel_gives() -> None:
    spec = kernel_json(gpus=1, gpu_type="a100_80", time="4h")
    # Where it runs and what it costs: 508.89 SU per A100 80GB hour, 4 hours.
    assert spec["display_name"] == "Rivanna GPU: 1x A100 80GB, 4 h (~2,036 SU)"
    assert spec_name(spec) == "rv-1x-a100_80-4h"
    assert spec["interrupt_mode"] == "message"
    provisioner = spec["metadata"]["kernel_provisioner"]
    assert provisioner == {"provisioner_name": "rv-slurm",
                           "config": {"gpus": 1, "gpu_type": "a100_80", "time": "4h"}}  # fmt: skip
    # "any" may land on the dearest type that serves 2 GPUs (H200: 816.67 SU/h).
    assert kernel_json(gpus=2, gpu_type="any", time="30m")["display_name"] == (
        "Rivanna GPU: 2x any GPU, 30 min (up to ~817 SU)"
    )
    assert kernel_json(gpus=1, gpu_type="mig", time="1h")["display_name"] == (
        "Rivanna GPU: 1x MIG 1g.10gb, 1 h (no SU charge)"
    )
    assert kernel_json(gpus=1, gpu_type="a40", time="2:59:00")["display_name"] == (
        "Rivanna GPU: 1x A40, 2 h 59 min (~557 SU)"
    )
    attach = kernel_json(job_id="12345")
    assert attach["display_name"] == "Rivanna GPU: in your job 12345"
    assert attach["metadata"]["kernel_provisioner"]["config"] == {"job_id": "12345"}


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"gpus": 5, "gpu_type": "h200"}, "at most 4"),
        ({"time": "4 days"}, "Cannot read the time"),
        ({"gpu_type": "k80"}, "--type"),
        ({"job_id": "12; rm -rf ~"}, "is not a job id"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(
    kwargs: dict[str, object], says: str, tmp_path: Path
) -> None:
    with pytest.raises(RequestError, match=says):
        kernel_json(**kwargs)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_install_never_overwrites_a_different_spec(tmp_path: Path) -> None:
    spec = kernel_json(gpus=1, gpu_type="mig", time="1h")
    where = install(spec, tmp_path)
    assert install(spec, tmp_path) == where  # the same spec again is fine
    changed = json.loads(json.dumps(spec))
    changed["display_name"] = "mine"
    with pytest.raises(RequestError, match="already installed"):
        install(changed, tmp_path)
    assert json.loads((where / "kernel.json").read_text()) == spec
    install(changed, tmp_path, replace=True)
    assert [name for name, _ in installed(tmp_path)] == ["rv-1x-mig-1h"]


def test_install_writes_a_chip_logo_jupyter_can_show(tmp_path: Path) -> None:
    where = install(kernel_json(gpus=1, gpu_type="a40", time="1h"), tmp_path)
    for size in (32, 64):
        data = (where / f"logo-{size}x{size}.png").read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        width, height, depth, colour = struct.unpack("!IIBB", data[16:26])
        assert (width, height, depth, colour) == (size, size, 8, 6)  # 8-bit RGBA
        idat = data.index(b"IDAT")
        (length,) = struct.unpack("!I", data[idat - 4 : idat])
        raw = zlib.decompress(data[idat + 4 : idat + 4 + length])
        assert len(raw) == size * (1 + 4 * size)
        centre = size // 2 * (1 + 4 * size) + 1 + 4 * (size // 2)
        assert tuple(raw[centre : centre + 4]) == logo.ORANGE  # the die
        assert raw[1:5] == b"\0\0\0\0"  # transparent corner: a chip, not a tile
    assert (where / "logo-svg.svg").read_text().startswith("<svg")


def test_reinstalling_an_older_spec_adds_the_logo(tmp_path: Path) -> None:
    spec = kernel_json(gpus=1, gpu_type="a40", time="1h")
    where = install(spec, tmp_path)
    for name in logo.FILES:
        (where / name).unlink()
    install(spec, tmp_path)
    assert sorted(p.name for p in where.iterdir()) == sorted(["kernel.json", *logo.FILES])


@pytest.mark.parametrize(
    ("notebook", "name"),
    [
        ("/home/me/work/My Analysis (v2).ipynb", "rv-k-My-Analysis-v2"),
        ("C:\\Users\\me\\train.ipynb", "rv-k-train"),
        ("Überblick.ipynb", "rv-k-Uberblick"),
        ("x/$(rm -rf ~);`id`.ipynb", "rv-k-rm-rf-id"),
        ("a/" + "long" * 30 + ".ipynb", "rv-k-" + ("long" * 10)),
        ("/tmp/.ipynb", "rv-k-ipynb"),
        ("/tmp/日本.ipynb", "rv-k-1x-a40"),
        (None, "rv-k-1x-a40"),
        ("", "rv-k-1x-a40"),
    ],
)
def test_kernel_jobs_are_named_after_their_notebook(notebook: str | None, name: str) -> None:
    got = job_name(notebook, gpus=1, gpu_type="a40")
    assert got == name
    from rv_jupyter.allocator.request import Request

    Request.build(name=got)  # a valid job name (it goes on an #SBATCH line unquoted)
