"""Pulling results: files land in their own folder, nothing local is lost, no escapes."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from rv_jupyter.errors import RequestError, RvError
from rv_jupyter.workspace.files import files_to_send, tar_bytes
from rv_jupyter.workspace.sync import TAR_EXIT, _extract, _tar_status


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


@pytest.mark.parametrize("data", [b"not a tar at all", a_tar({"./a.txt": os.urandom(5000)})[:3000]])
def test_a_damaged_stream_is_one_rv_error(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(RvError, match="arrived damaged"):
        _extract(data, tmp_path / "dest", force=True, remote="ws")


def test_a_destination_that_cannot_be_written_is_a_request_error(tmp_path: Path) -> None:
    (tmp_path / "dest").write_text("a file where the folder should be")
    with pytest.raises(RequestError, match="Cannot write the pulled files"):
        _extract(a_tar({"./out/a.txt": b"x"}), tmp_path / "dest", force=True, remote="ws")


@pytest.mark.parametrize(
    ("stderr", "rest", "code"),
    [
        (f"{TAR_EXIT} 0\n", "", 0),
        (f"tar: nope: Cannot stat\n{TAR_EXIT} 2\n", "tar: nope: Cannot stat", 2),
        ("cd: /x: No such file or directory\n", "cd: /x: No such file or directory", None),
    ],
)
def test_tars_own_status_is_read_from_its_line(stderr: str, rest: str, code: int | None) -> None:
    assert _tar_status(stderr) == (rest, code)


def test_an_unreadable_file_to_push_is_a_request_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secret.py").write_text("x")

    def unreadable(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    # As root (the test harness) every file is readable: make this one not.
    monkeypatch.setattr(tarfile.TarFile, "add", unreadable)
    with pytest.raises(RequestError, match=r"Cannot read secret\.py to sync it: Permission"):
        tar_bytes(tmp_path)
