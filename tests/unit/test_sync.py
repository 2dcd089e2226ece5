"""Pulling results: files land in their own folder, nothing local is lost, no escapes."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from rv_jupyter.errors import RequestError
from rv_jupyter.sync import _extract
from rv_jupyter.workspace import files_to_send


def a_tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def test_files_land_under_the_destination_and_differing_local_files_are_kept(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "rv-results"
    (dest / "out").mkdir(parents=True)
    (dest / "out" / "mine.txt").write_text("my edits")
    (dest / "out" / "same.txt").write_text("same")
    data = a_tar({"./out/new.txt": b"new", "./out/mine.txt": b"remote", "./out/same.txt": b"same"})
    result = _extract(data, dest, force=False, remote="ws")
    assert (dest / "out" / "new.txt").read_text() == "new"
    assert (dest / "out" / "mine.txt").read_text() == "my edits"
    assert result.skipped == ["out/mine.txt"]
    assert sorted(result.files) == ["out/new.txt", "out/same.txt"]
    _extract(data, dest, force=True, remote="ws")
    assert (dest / "out" / "mine.txt").read_text() == "remote"


@pytest.mark.parametrize("name", ["../evil.txt", "./a/../../evil.txt", "/etc/evil.txt"])
def test_members_outside_the_destination_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(RequestError, match="outside"):
        _extract(a_tar({name: b"x"}), tmp_path / "dest", force=True, remote="ws")
    assert not (tmp_path / "evil.txt").exists()


def test_links_are_never_followed(tmp_path: Path) -> None:
    result = _extract(
        a_tar({}, {"./passwd": "/etc/passwd"}), tmp_path / "d", force=True, remote="w"
    )
    assert result.files == [] and not (tmp_path / "d" / "passwd").exists()


def test_push_honours_rvignore_gitignore_and_default_excludes(tmp_path: Path) -> None:
    for rel in ["a.py", "model.safetensors", "cache/x.bin", "data/big.csv", "notes.log",
                "__pycache__/a.pyc", "sub/b.py"]:  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / ".rvignore").write_text("data/\n")
    (tmp_path / ".gitignore").write_text("*.log\n")
    sent = {str(p) for p in files_to_send(tmp_path)}
    assert sent == {"a.py", "sub/b.py", ".rvignore", ".gitignore"}
