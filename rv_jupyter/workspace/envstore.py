"""Environment variables for jobs (`~/.rv/env.json`, shared with the `rv` CLI).

Plain values are stored as they are; secrets are encrypted at rest with a key kept
beside the file (`env.key`, 0600). Fernet (from `cryptography`) gives authenticated
encryption, so a tampered file is an error rather than a wrong secret; hand-written
crypto would not. Values reach a job only through a 0600 file that the job sources and
deletes: never a command line, a batch script, a log or a notebook output.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rv_jupyter.config import config_path
from rv_jupyter.errors import ConfigError, RequestError

if TYPE_CHECKING:
    import pandas as pd

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MASK = "••••••••"


class EnvStore:
    """The user's job environment: set, list (secrets masked), remove, render for a job."""

    def __init__(self, path: Path | None = None) -> None:
        # Beside the config: ~/.rv/env.json, or next to the file $RV_CONFIG names.
        self.path = path or config_path().parent / "env.json"
        self.key_path = self.path.with_name("env.key")

    def set(self, name: str, value: str, *, secret: bool = False) -> None:
        """Add or replace a variable; secrets are encrypted before they touch the disk."""
        if not NAME.match(name):
            raise RequestError(
                f"{name!r} is not a variable name.", hint="Use letters, digits and _."
            )
        data = self._load()
        stored = self._fernet().encrypt(value.encode()).decode() if secret else value
        data[name] = {"value": stored, "secret": secret}
        self._save(data)

    def remove(self, name: str) -> None:
        """Forget a variable."""
        data = self._load()
        if name not in data:
            raise RequestError(f"No variable {name} is set.", hint="%rv_env list shows them.")
        del data[name]
        self._save(data)

    def to_frame(self) -> pd.DataFrame:
        """Every variable, secrets masked."""
        import pandas as pd

        rows = [
            {"name": k, "value": MASK if v.get("secret") else v.get("value", ""),
             "secret": bool(v.get("secret"))}
            for k, v in sorted(self._load().items())
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=["name", "value", "secret"])

    def env_file(self, *, notify: bool = True) -> str:
        """The text of a job's env file (`NAME='value'` lines, secrets decrypted); without
        the notification channels and signing key (RV_NOTIFY_*) unless `notify`: only a
        job's watchdog needs them, never the work itself."""
        lines = []
        for name, entry in sorted(self._load().items()):
            if not notify and name.startswith("RV_NOTIFY_"):
                continue
            value = entry.get("value", "")
            if entry.get("secret"):
                value = self._decrypt(name, value)
            lines.append(f"{name}={shlex.quote(value)}")
        return "\n".join(lines) + ("\n" if lines else "")

    def get(self, name: str) -> str | None:
        """One variable's value (a secret decrypted), or None when it is not set."""
        entry = self._load().get(name)
        if entry is None:
            return None
        value = str(entry.get("value", ""))
        return self._decrypt(name, value) if entry.get("secret") else value

    def signing_secret(self) -> str:
        """This user's notification signing key, made once and kept as an encrypted secret.

        Per user, never a constant in the code: a receiver that checks the signature
        then knows the request came from this user's jobs, not anyone's. As a secret
        variable it reaches each job only through the 0600 env file.
        """
        from rv_jupyter.telemetry.notify import ENV_SECRET, new_secret

        value = self.get(ENV_SECRET)
        if not value:
            value = new_secret()
            self.set(ENV_SECRET, value, secret=True)
        return value

    def secrets(self) -> list[str]:
        """Decrypted secret values (for checks that none leaked into an output)."""
        return [self._decrypt(k, v["value"]) for k, v in self._load().items() if v.get("secret")]

    # -- storage --------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{self.path} is not readable JSON.", hint="Fix or remove it."
            ) from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{self.path} should hold a JSON object.", hint="Fix or remove it.")
        # The `rv` CLI may store a plain string for a plain variable.
        return {k: v if isinstance(v, dict) else {"value": str(v)} for k, v in data.items()}

    def _save(self, data: dict[str, Any]) -> None:
        _write_private(self.path, json.dumps(data, indent=2) + "\n")

    def _fernet(self) -> Any:
        from cryptography.fernet import Fernet

        if not self.key_path.exists():
            _write_private(self.key_path, Fernet.generate_key().decode())
        return Fernet(self.key_path.read_text().strip().encode())

    def _decrypt(self, name: str, token: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return str(self._fernet().decrypt(token.encode()).decode())
        except (InvalidToken, ValueError) as exc:
            raise ConfigError(
                f"The secret {name} in {self.path} cannot be decrypted with {self.key_path}.",
                hint=f"Set it again: %rv_env set {name} --secret",
            ) from exc


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
