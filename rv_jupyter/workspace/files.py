"""The local project as a tar stream for the cluster: what to send and what to leave out.

`.gitignore` (through git itself, when the folder is a repository) and `.rvignore` are
honoured, and weights, caches and VCS folders never travel. The stream goes over the
one SSH connection on stdin, into /scratch/<user>/rv-workspaces/<dirname>.
"""

from __future__ import annotations

import fnmatch
import io
import subprocess
import tarfile
from collections.abc import Iterable
from pathlib import Path

from rv_jupyter.errors import RequestError

DEFAULT_EXCLUDES = (
    "*.bin", "*.safetensors", "*.gguf", "*.pt", "*.pth",
    "__pycache__/", "node_modules/", ".git/", ".ipynb_checkpoints/", ".venv/",
)  # fmt: skip
MAX_BYTES = 200 * 1024 * 1024


def files_to_send(root: Path) -> list[Path]:
    """Paths (relative to `root`) of the files to sync, sorted."""
    listed = _git_files(root)
    candidates = listed if listed is not None else _walk(root)
    patterns = list(DEFAULT_EXCLUDES) + _patterns(root / ".rvignore")
    if listed is None:
        patterns += _patterns(root / ".gitignore")
    return sorted(p for p in candidates if not _ignored(p, patterns) and (root / p).is_file())


def tar_bytes(root: Path, extra: dict[str, str] | None = None) -> bytes:
    """A gzip tar of the project plus `extra` files (name -> text), for `tar xz` remotely."""
    buf = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel in files_to_send(root):
            try:
                total += (root / rel).stat().st_size
                if total > MAX_BYTES:
                    raise RequestError(
                        f"The folder {root} holds more than {MAX_BYTES // 2**20} MB to sync.",
                        hint="List data and weights in .rvignore and keep them on /scratch.",
                    )
                tar.add(root / rel, arcname=str(rel), recursive=False)
            except OSError as exc:  # unreadable, or gone since it was listed
                raise RequestError(
                    f"Cannot read {rel} to sync it: {exc.strerror or exc}.",
                    hint="Fix its permissions, or list it in .rvignore.",
                ) from None
        for name, text in (extra or {}).items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _git_files(root: Path) -> list[Path] | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"],
            capture_output=True, check=True, timeout=30,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return [Path(p) for p in out.decode(errors="surrogateescape").split("\0") if p]


def _walk(root: Path) -> list[Path]:
    return [p.relative_to(root) for p in root.rglob("*") if p.is_file()]


def _patterns(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = (ln.strip() for ln in path.read_text(errors="replace").splitlines())
    return [ln for ln in lines if ln and not ln.startswith(("#", "!"))]


def _ignored(rel: Path, patterns: Iterable[str]) -> bool:
    parts = rel.parts
    for pat in patterns:
        if pat.endswith("/"):
            if pat.rstrip("/") in parts[:-1]:
                return True
        elif fnmatch.fnmatch(rel.name, pat) or fnmatch.fnmatch(str(rel), pat.lstrip("/")):
            return True
    return False
