"""The newest cluster read of one user on one machine, shared by all their processes.

Every kernel (and the Jupyter server) has its own `Poller`, so N notebooks with a panel
would read the cluster N times per interval. Instead each poller keeps the newest read
in one small file per SSH target: before reading it looks there, and takes a read that
another process started recently; while one process reads it holds an flock on the
file's lock, and the others wait for its result instead of reading too. The pacing
itself stays in `Poller` (the same intervals everywhere, measured from the newest read
by anyone); this file only records who read what, and when.

Why a file rather than the server extension's `/rv/api/state`: a kernel is not told
its server's URL or token, and may have no server at all (papermill, nbclient, VS Code,
a script); with password authentication there is no token to find; the server may run
with another RV_CONFIG. A file in a directory only the user can open needs no
authentication and no server, and the OS releases an flock when its holder dies, so a
killed kernel never blocks the others.

Where: `$XDG_RUNTIME_DIR/rv-jupyter` (per machine, cleared at logout), else
`~/.rv/run/<hostname>` (a home on NFS is shared by many machines). A directory that is
not the user's own, or that others can open, is not used: the poller then reads alone.
Unix only (flock); elsewhere every process reads for itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock, no sharing
    fcntl = None  # type: ignore[assignment]


def default_dir() -> Path:
    """Where this machine's shared reads live for the current user."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "rv-jupyter"
    return Path.home() / ".rv" / "run" / socket.gethostname()


class SharedSnapshot:
    """One target's newest read, in a JSON file beside its lock and its poke marker."""

    def __init__(self, directory: Path, key: str) -> None:
        name = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.directory = directory
        self.path = directory / f"state-{name}.json"
        self._lock_path = directory / f"state-{name}.lock"
        self._poke_path = directory / f"state-{name}.poke"
        self._lock_fd: int | None = None
        self._seen: tuple[int, int, int] | None = None
        self._poke_seen: int | None = None

    @classmethod
    def create(cls, key: str, directory: Path | None = None) -> SharedSnapshot | None:
        """The shared record for `key` (an SSH target), or None where none can be kept."""
        if fcntl is None:
            return None
        return cls(directory or default_dir(), key)

    def _private_dir(self) -> bool:
        # Made 0700 by us, or found: then it must be ours, a real directory, closed to others.
        with contextlib.suppress(FileExistsError):
            self.directory.mkdir(mode=0o700, parents=True)
        st = os.lstat(self.directory)
        return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077

    def load_if_changed(self) -> dict[str, Any] | None:
        """The record, if the file changed since the last look (None otherwise, or unreadable)."""
        try:
            st = os.stat(self.path)
            sig = (st.st_ino, st.st_mtime_ns, st.st_size)
            if sig == self._seen:
                return None
            self._seen = sig
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                data = json.loads(f.read(8 * 1024 * 1024))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def store(self, record: dict[str, Any]) -> None:
        """Replace the record atomically (readers never see half a file); errors ignored."""
        with contextlib.suppress(OSError, TypeError, ValueError):
            if not self._private_dir():
                return
            tmp = self.directory / f".{self.path.name}.{os.getpid()}.{time.monotonic_ns()}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(record, f)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    def try_lock(self) -> bool:
        """Claim the next read for this process; False while another holds the claim.

        A directory we cannot use claims nothing and says True: the caller reads alone.
        """
        assert fcntl is not None
        if self._lock_fd is not None:
            return False  # one claim per record object: another read here holds it
        try:
            if not self._private_dir():
                return True
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def unlock(self) -> None:
        """Give up the claim (closing the file releases the flock)."""
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)

    def poke(self) -> None:
        """Tell every process's poller that the cluster changed (mtime of the marker)."""
        with contextlib.suppress(OSError):
            if not self._private_dir():
                return
            fd = os.open(self._poke_path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            os.close(fd)
            # This machine's clock, not a file server's: readers compare it with time.time().
            now = time.time_ns()
            os.utime(self._poke_path, ns=(now, now))

    def poked_at(self) -> float | None:
        """Wall time of a poke by anyone since the last look, if there was one."""
        try:
            mtime = os.stat(self._poke_path).st_mtime_ns
        except OSError:
            return None
        if mtime == self._poke_seen:
            return None
        self._poke_seen = mtime
        return mtime / 1e9
