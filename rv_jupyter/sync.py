"""Moving the project to the cluster and results back, over the one SSH connection.

Push sends the folder as a tar stream on stdin (see `workspace`). Pull brings files
from the workspace back into a local folder of their own (`rv-results/` by default) and
never overwrites a local file that differs unless asked: nothing of the user's is lost.
"""

from __future__ import annotations

import io
import shlex
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from rv_jupyter.cluster import RemotePaths
from rv_jupyter.errors import RequestError
from rv_jupyter.workspace import tar_bytes

if TYPE_CHECKING:
    import pandas as pd

    from rv_jupyter.session import Cluster


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
    done = await cluster.connection.run(
        f"cd -- {shlex.quote(ws)} && tar czf - --exclude=./.rv-cells -- {what}",
        binary=True, check=False, timeout=600,
    )  # fmt: skip
    if done.exit_status != 0:
        raise RequestError(
            f"Cannot read {what} in {ws}: {done.stderr.strip().splitlines()[-1:]}",
            hint="%rv_sync push first, or name files that exist there.",
        )
    dest = into or local_root / "rv-results"
    return _extract(done.stdout_bytes, dest, force=force, remote=ws)


def _extract(data: bytes, dest: Path, *, force: bool, remote: str) -> SyncResult:
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
