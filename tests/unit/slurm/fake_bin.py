"""Stand-ins for squeue, scancel and srun on PATH, to run a built command in a real sh.

Each records the argv it got (words ended by NUL, calls by RS) in `calls.<name>`;
squeue prints the file `queue`. So a test sees exactly the words the shell handed
over: what quoting must preserve, and that nothing else ran.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.hostile import SHELL_PAYLOADS

_STUB = """#!/bin/sh
printf '%s\\0' "$@" >> "{dir}/calls.{name}"
printf '\\036' >> "{dir}/calls.{name}"
{extra}
"""
# Words as they reach a command line: also blanks inside one word, and a glob.
HOSTILE = [*SHELL_PAYLOADS, "a b\ttouch {canary}", "123_[1-3]*"]


@dataclass
class FakeSlurm:
    """A directory of stand-ins; `run` executes shell text with them first on PATH."""

    dir: Path

    def run(self, text: str) -> str:
        """stdout of `sh -c text` (run in `dir`, so a stray `touch` lands there)."""
        env = {**os.environ, "PATH": f"{self.dir}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(
            ["sh", "-c", text], cwd=self.dir, env=env, capture_output=True, text=True,
            timeout=20, check=True,
        )  # fmt: skip
        return done.stdout

    def calls(self, name: str) -> list[list[str]]:
        """The argv of each call of `name`, in order."""
        path = self.dir / f"calls.{name}"
        if not path.exists():
            return []
        text = path.read_text()
        return [c.split("\0")[:-1] for c in text.split("\036") if c]

    def queue(self, text: str) -> None:
        """What squeue prints from now on."""
        (self.dir / "queue").write_text(text)

    @property
    def canary(self) -> Path:
        """A file a command injection would create."""
        return self.dir / "pwned"


def fake_slurm(tmp_path: Path) -> FakeSlurm:
    """squeue, scancel and srun stand-ins in `tmp_path` (and a sleep that does not)."""
    for name in ("squeue", "scancel", "srun"):
        extra = f'cat "{tmp_path}/queue" 2>/dev/null || :' if name == "squeue" else ""
        stub = tmp_path / name
        stub.write_text(_STUB.format(dir=tmp_path, name=name, extra=extra))
        stub.chmod(0o755)
    # The sweep's second look waits a second for a late sbatch; no sbatch lands here.
    (tmp_path / "sleep").write_text("#!/bin/sh\n")
    (tmp_path / "sleep").chmod(0o755)
    return FakeSlurm(tmp_path)
