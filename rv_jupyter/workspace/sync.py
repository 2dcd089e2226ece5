"""Moving the project to the cluster and results back, over the one SSH connection.

Push sends the folder as a tar stream on stdin (see `workspace`). Pull brings files
from the workspace back into a local folder of their own (`rv-results/` by default) and
never overwrites a local file that differs unless asked: nothing of the user's is lost.
"""

from __future__ import annotations

import io
import shlex
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from rv_jupyter.errors import RequestError, RvError, clip
from rv_jupyter.facts import RemotePaths
from rv_jupyter.workspace.files import MAX_BYTES, tar_bytes

# Pull brings back what push may send: the stream is held in memory, so it is bounded.
PULL_MAX_BYTES = MAX_BYTES
# The gzip stream may exceed the files' size a little (headers, incompressible data).
PULL_STREAM_CAP = PULL_MAX_BYTES + PULL_MAX_BYTES // 10 + 2**20
TOO_BIG = "rv-pull-too-big"
TAR_EXIT = "rv-pull-tar-exit"

if TYPE_CHECKING:
    import pandas as pd

    from rv_jupyter.cluster.handle import Cluster


@dataclass
class SyncResult:
    """What moved, and where."""

    direction: str
    remote: str
    local: str
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # pull: local files that differ

    def to_frame(self) -> pd.DataFrame:
        """One row per file."""
        import pandas as pd

        rows = [{"file": f, "action": self.direction} for f in self.files]
        rows += [{"file": f, "action": "kept local (differs; --force to replace)"}
                 for f in self.skipped]  # fmt: skip
        return pd.DataFrame(rows, columns=["file", "action"])

    def _repr_html_(self) -> str:
        head = f"<p>{self.direction}: {self.local} ↔ {self.remote}</p>"
        return head + str(self.to_frame().to_html(index=False))


def workspace_of(paths: RemotePaths, local_root: Path) -> str:
    """The folder on scratch that mirrors `local_root`."""
    name = local_root.resolve().name or "root"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return f"{paths.workspaces}/{safe}"


async def push(
    cluster: Cluster, local_root: Path, *, extra: dict[str, str] | None = None
) -> SyncResult:
    """Send the folder (honouring .gitignore/.rvignore) to its workspace on scratch."""
    paths = RemotePaths(await cluster.auser())
    ws = workspace_of(paths, local_root)
    payload = tar_bytes(local_root, extra)
    await cluster.connection.run(
        f"mkdir -p -- {shlex.quote(ws)} && tar xzf - -C {shlex.quote(ws)}",
        stdin=payload, timeout=300, retry=False,
    )  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        names = [m.name for m in tar.getmembers() if m.isfile() and m.name not in (extra or {})]
    return SyncResult("push", ws, str(local_root), names)


async def pull(
    cluster: Cluster,
    local_root: Path,
    targets: list[str] | None = None,
    *,
    into: Path | None = None,
    force: bool = False,
) -> SyncResult:
    """Bring workspace files back into `into` (default `<folder>/rv-results`)."""
    paths = RemotePaths(await cluster.auser())
    ws = workspace_of(paths, local_root)
    for t in targets or []:
        p = PurePosixPath(t)
        if p.is_absolute() or ".." in p.parts:
            raise RequestError(f"{t!r} is not a path inside the workspace.", hint="e.g. outputs/")
    what = " ".join(shlex.quote(t) for t in targets) if targets else "."
    # The stream comes back whole into memory (one SSH exec), so it is bounded: du first,
    # in the same command, refuses what is too big by its size before any of it is sent,
    # and `head -c` bounds the bytes should files grow meanwhile. tar's own status comes
    # on stderr, as the pipeline's is head's.
    done = await cluster.connection.run(
        f"cd -- {shlex.quote(ws)} && size=$(du -scb --exclude=./.rv-cells -- {what} "
        "2>/dev/null | tail -n 1 | cut -f1) && "
        f'if [ "${{size:-0}}" -gt {PULL_MAX_BYTES} ]; then echo "{TOO_BIG} $size" >&2; exit 3; '
        f"fi && {{ tar czf - --exclude=./.rv-cells -- {what}; echo \"{TAR_EXIT} $?\" >&2; }} "
        f"| head -c {PULL_STREAM_CAP}",
        binary=True, check=False, timeout=600, retry=True,
    )  # fmt: skip
    err, tar_exit = _tar_status(done.stderr)
    size = _after(err, TOO_BIG)
    if size is None and len(done.stdout_bytes) >= PULL_STREAM_CAP:
        size = len(done.stdout_bytes)  # grew past the bound while it was read
    if size is not None:
        raise RequestError(
            f"{clip(what)} in {ws} holds {size / 2**20:,.0f} MB; %rv_sync pull brings back at "
            f"most {PULL_MAX_BYTES // 2**20} MB at a time.",
            hint="Pull a part of it (`%rv_sync pull outputs/run1`), or copy big results with "
            f"scp or Globus from {ws}.",
        )
    if done.exit_status != 0 or tar_exit != 0:
        last = err.splitlines()[-1] if err else f"exit status {done.exit_status or tar_exit}"
        raise RequestError(
            f"Cannot read {clip(what)} in {ws}: {last}",
            hint="%rv_sync push first, or name files that exist there.",
        )
    dest = into or local_root / "rv-results"
    return _extract(done.stdout_bytes, dest, force=force, remote=ws)


def _tar_status(stderr: str) -> tuple[str, int | None]:
    """stderr without the TAR_EXIT line, and the status that line gave (None: no line)."""
    lines = stderr.strip().splitlines()
    code = _after("\n".join(ln for ln in lines if ln.startswith(TAR_EXIT)), TAR_EXIT)
    return "\n".join(ln for ln in lines if not ln.startswith(TAR_EXIT)), code


def _after(text: str, marker: str) -> int | None:
    """The number following `marker` in text, if it is there."""
    if marker not in text:
        return None
    word = text.split(marker, 1)[1].split()
    return int(word[0]) if word and word[0].isdigit() else None


def _extract(data: bytes, dest: Path, *, force: bool, remote: str) -> SyncResult:
    try:
        return _unpack(data, dest, force=force, remote=remote)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise RvError(
            f"The files from {remote} arrived damaged ({exc}); nothing more was written.",
            hint="Try again; if it keeps failing, `%rv_exec ls -la` the workspace.",
        ) from None
    except OSError as exc:
        raise RequestError(
            f"Cannot write the pulled files into {dest}: {exc.strerror or exc}.",
            hint="Free some disk space, or pull into another folder with --into.",
        ) from None


def _unpack(data: bytes, dest: Path, *, force: bool, remote: str) -> SyncResult:
    result = SyncResult("pull", remote, str(dest))
    root = dest.resolve()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue  # directories are made as needed; links are never followed
            target = (root / member.name).resolve()
            if root not in target.parents:
                raise RequestError(f"Refusing {member.name!r}: it points outside {dest}.")
            fh = tar.extractfile(member)
            content = fh.read() if fh else b""
            name = str(target.relative_to(root))
            if target.exists() and target.read_bytes() != content and not force:
                result.skipped.append(name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            result.files.append(name)
    return result
