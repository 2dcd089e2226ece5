"""`~/.rv/config.toml`, shared with the `rv` command-line tool, as pydantic models.

The file belongs to the user and to `rv` as much as to us: writing it keeps keys,
sections and comments we do not know (tomlkit edits the document in place).
`RV_CONFIG` names another file (the mini-Rivanna's, in tests).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rv_jupyter.errors import ConfigError
from rv_jupyter.facts import LOGIN_HOST

ENV_VAR = "RV_CONFIG"
DEFAULT_PATH = Path("~/.rv/config.toml")


class _Section(BaseModel):
    # Unknown keys are kept (the `rv` CLI may know them) and written back unchanged.
    model_config = ConfigDict(extra="allow", validate_assignment=True)


class Connection(_Section):
    """How to reach the login node: a host (or ~/.ssh/config alias) and a user."""

    host: str = LOGIN_HOST
    user: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    identity_file: str | None = None
    known_hosts: str | None = None
    ssh_config: str | None = None
    proxy_jump: str | None = None

    @field_validator("host")
    @classmethod
    def _host_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()


class Defaults(_Section):
    """What a request gets when it does not say."""

    account: str | None = None
    gpu_type: str = "any"
    time: str = "2:59:00"
    partition: str | None = None
    # `module load` lines for every job, e.g. ["miniforge/24.11.3-py3.12", "cuda/12.8.0"].
    modules: list[str] = Field(default_factory=list)


class Paths(_Section):
    """The user's directories on the cluster (derived from the user when absent)."""

    scratch: str | None = None
    home: str | None = None


class Notifications(_Section):
    """Mail when jobs end."""

    enabled: bool = False
    email: str | None = None


class Shared(_Section):
    """A lab's shared Hugging Face cache on /standard or /project."""

    hf_cache: str | None = None


class ScratchKeepalive(_Section):
    """Touch rv's files on scratch daily so the 90-day purge spares them."""

    enabled: bool = True


class Kernels(_Section):
    """Remote Jupyter kernels (the "Rivanna" kernelspecs)."""

    # The Python on the compute node that has ipykernel (after `defaults.modules` load),
    # e.g. "~/.conda/envs/torch/bin/python".
    python: str = "python3"
    # Warn the notebook this long before the job's walltime ends.
    warn_before_end_min: int = Field(default=10, ge=0)


class RvConfig(BaseModel):
    """The whole file. `path` is where it was read from (not written to the file)."""

    model_config = ConfigDict(extra="allow")

    connection: Connection = Field(default_factory=Connection)
    defaults: Defaults = Field(default_factory=Defaults)
    paths: Paths = Field(default_factory=Paths)
    notifications: Notifications = Field(default_factory=Notifications)
    shared: Shared = Field(default_factory=Shared)
    scratch_keepalive: ScratchKeepalive = Field(default_factory=ScratchKeepalive)
    kernels: Kernels = Field(default_factory=Kernels)


SECTIONS = (
    "connection", "defaults", "paths", "notifications", "shared", "scratch_keepalive", "kernels",
)  # fmt: skip


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: the argument, else $RV_CONFIG, else ~/.rv/config.toml."""
    chosen = explicit or os.environ.get(ENV_VAR) or DEFAULT_PATH
    return Path(chosen).expanduser()


def load(path: str | os.PathLike[str] | None = None) -> RvConfig:
    """Read and validate the config; errors name the file, the key and the fix."""
    p = config_path(path)
    if not p.exists():
        raise ConfigError(
            f"No rv config at {p}.",
            hint="Run `%rv_init` in a notebook to create it, or write it by hand, e.g.\n"
            f'    [connection]\n    host = "{LOGIN_HOST}"\n'
            '    user = "abs6bd"   # your computing id'
            + (f"\n(or unset {ENV_VAR}, which points here)" if os.environ.get(ENV_VAR) else ""),
            path=str(p),
        )
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read the rv config {p}: {exc.strerror}.", path=str(p)) from exc
    return parse(text, source=str(p))


def parse(text: str, *, source: str = "<config>") -> RvConfig:
    """Validate config text (TOML) into an RvConfig."""
    import tomlkit
    from tomlkit.exceptions import ParseError as TomlParseError

    try:
        data = tomlkit.parse(text).unwrap()
    except TomlParseError as exc:
        raise ConfigError(
            f"{source} is not valid TOML: {exc}.",
            hint='Fix the line shown (strings need quotes: user = "abs6bd").',
            path=source,
        ) from exc
    try:
        return RvConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, source) from exc


def _explain(exc: ValidationError, source: str) -> ConfigError:
    first = exc.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    given = first.get("input")
    shown = "" if isinstance(given, dict) else f" (got {given!r})"
    section, _, name = key.partition(".")
    more = f" and {len(exc.errors()) - 1} more" if len(exc.errors()) > 1 else ""
    return ConfigError(
        f"Invalid value for `{key}` in {source}: {first['msg']}{shown}{more}.",
        hint=f"Edit [{section}] {name or '(the section)'} in {source}"
        + (f"; an example: {_EXAMPLES[key]}" if key in _EXAMPLES else "."),
        path=source,
        key=key,
    )


_EXAMPLES = {
    "connection.host": f'host = "{LOGIN_HOST}"',
    "connection.user": 'user = "abs6bd"',
    "connection.port": "port = 22",
    "defaults.time": 'time = "2:59:00"',
    "notifications.enabled": "enabled = true",
    "scratch_keepalive.enabled": "enabled = true",
}


def save(config: RvConfig, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the config, keeping unknown keys and comments already in the file.

    The file is replaced atomically (write to a temporary file, then rename), so a
    crash never leaves half a config behind.
    """
    import tomlkit

    p = config_path(path)
    doc = tomlkit.parse(p.read_text(encoding="utf-8")) if p.exists() else tomlkit.document()
    for name in SECTIONS:
        values = getattr(config, name).model_dump(exclude_none=True)
        defaults = type(getattr(config, name))().model_dump(exclude_none=True)
        if name not in doc:
            # Only write a section the user changed from the defaults.
            if values == defaults:
                continue
            doc[name] = tomlkit.table()
        table: Any = doc[name]
        for key, value in values.items():
            if key in table and table[key] == value:
                continue  # untouched: keep its formatting and comment
            if key not in table and defaults.get(key) == value:
                continue
            table[key] = value
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config.", suffix=".toml", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(tomlkit.dumps(doc))
        os.chmod(tmp, 0o600)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
