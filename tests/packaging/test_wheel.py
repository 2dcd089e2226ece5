"""The wheel a user installs: the prebuilt Lab extension and the server extension's
enable file are in it, so `pip install rv-jupyter` needs no Node and no `jupyter lab
build`. Builds the wheel from this checkout (pip, hatch-jupyter-builder, jlpm) and
looks at what it would install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_both_extensions_enabled(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("rv_jupyter-*.whl")
    # The wheel's data files, laid out as pip lays them out under a prefix. (Not pip
    # itself: `pip install --prefix` would uninstall the checkout's rv-jupyter from
    # this venv first.)
    venv = tmp_path / "prefix"
    with zipfile.ZipFile(wheel) as z:
        data = next(n for n in z.namelist() if ".data/data/" in n).split(".data/data/")[0]
        for name in z.namelist():
            if name.startswith(data + ".data/data/"):
                target = venv / name.split(".data/data/", 1)[1]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(name))
    lab = venv / "share" / "jupyter" / "labextensions" / "rv-jupyter"
    meta = json.loads((lab / "package.json").read_text())
    assert meta["name"] == "rv-jupyter" and meta["jupyterlab"]["_build"]["load"]
    assert (lab / meta["jupyterlab"]["_build"]["load"]).exists()
    assert json.loads((lab / "install.json").read_text())["packageName"] == "rv-jupyter"
    enable = venv / "etc" / "jupyter" / "jupyter_server_config.d" / "rv_jupyter.json"
    assert json.loads(enable.read_text())["ServerApp"]["jpserver_extensions"] == {
        "rv_jupyter": True
    }
    # JupyterLab finds it there as a prebuilt extension, enabled.
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        env=dict(os.environ, JUPYTER_PATH=str(venv / "share" / "jupyter")),
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    text = listed.stdout + listed.stderr
    block = text.split(str(venv / "share" / "jupyter" / "labextensions"), 1)[1]
    line = next(ln for ln in block.splitlines() if "rv-jupyter" in ln)
    assert "enabled" in line and "OK" in line and "(python, rv-jupyter)" in line, text
    # The extension's own JavaScript stays small (JupyterLab's packages are shared).
    size = sum(p.stat().st_size for p in (lab / "static").glob("*.js"))
    assert size < 300_000, size
