"""`~/.rv/config.toml`, shared with the `rv` command-line tool, as pydantic models.

The file belongs to the user and to `rv` as much as to us: writing it keeps keys,
sections and comments we do not know (tomlkit edits the document in place), and reading
it keeps them too, except one a slip away from a key of ours (`[defaults] tmie`): that is
refused as the typo it is, since it would leave the default in force unnoticed.
`RV_CONFIG` names another file (the mini-Rivanna's, in tests).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rv_jupyter.errors import ConfigError
from rv_jupyter.facts import LOGIN_HOST
from rv_jupyter.jobs.mail import Mail, is_address, mail_types

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

    def fill(self, **said: object) -> dict[str, object]:
        """What the user said (None or "" is not saying), with the type, time and account
        they left out taken from here: the one rule for a request's defaults."""
        fields = {k: v for k, v in said.items() if v is not None and v != ""}
        fields.setdefault("gpu_type", self.gpu_type)
        if "time" not in fields and "time_s" not in fields:
            fields["time"] = self.time
        if self.account is not None:
            fields.setdefault("account", self.account)
        return fields


class Paths(_Section):
    """The user's directories on the cluster (derived from the user when absent)."""

    scratch: str | None = None
    home: str | None = None


class NotifyChannel(_Section):
    """A webhook the job calls: its kind, and the encrypted %rv_env secret holding its URL.

    The URL itself never sits in this file in clear: its path or query is the token.
    """

    kind: Literal["json", "ntfy", "slack"]
    url_secret: str

    @field_validator("url_secret")
    @classmethod
    def _a_notify_variable(cls, v: str) -> str:
        # The prefix is what keeps these out of the payload's environment (the job
        # script unsets RV_NOTIFY_* for everything but the watcher).
        if not re.fullmatch(r"RV_NOTIFY_[A-Za-z0-9_]+", v):
            raise ValueError("should name an RV_NOTIFY_... secret (%rv_notify add stores it)")
        return v


class Notifications(_Section):
    """Slurm's own mail (`mail`, `mail_type`) and the webhooks jobs notify (`channels`)."""

    # The `rv` CLI's switch and address for mail when jobs end.
    enabled: bool = False
    email: str | None = None
    mail: str | None = None
    mail_type: str = "END,FAIL"
    channels: dict[str, NotifyChannel] = Field(default_factory=dict)

    @field_validator("mail", "email")
    @classmethod
    def _an_address(cls, v: str | None) -> str | None:
        if v is not None and not is_address(v.strip()):
            raise ValueError("should be a mail address like you@virginia.edu")
        return v.strip() if v is not None else None

    @field_validator("mail_type")
    @classmethod
    def _slurm_mail_types(cls, v: str) -> str:
        return mail_types(v)

    def job_mail(self) -> Mail | None:
        """Slurm mail for the jobs that do the work, when the user asked for it."""
        user = self.mail or (self.email if self.enabled else None)
        if not user or self.mail_type == "NONE" or not is_address(user.strip()):
            return None
        return Mail(user=user.strip(), types=self.mail_type)


class Alerts(_Section):
    """The watchdog's rules (rv_jupyter.telemetry.rules.Limits) and whether jobs carry it."""

    # Run the watcher inside every job (as if `--watch` were given).
    watch: bool = False
    idle_util_pct: float = Field(default=5.0, ge=0, le=100)
    idle_min: float = Field(default=10.0, gt=0)
    memory_full_pct: float = Field(default=95.0, gt=0, le=100)
    silent_min: float = Field(default=30.0, gt=0)
    walltime_warn_min: float = Field(default=10.0, ge=0)

    def limits(self) -> dict[str, float]:
        """As rules.Limits' fields (seconds)."""
        return {
            "idle_util_pct": self.idle_util_pct, "idle_for_s": self.idle_min * 60,
            "memory_full_pct": self.memory_full_pct, "silent_for_s": self.silent_min * 60,
            "walltime_warn_s": self.walltime_warn_min * 60,
        }  # fmt: skip


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
    alerts: Alerts = Field(default_factory=Alerts)
    shared: Shared = Field(default_factory=Shared)
    scratch_keepalive: ScratchKeepalive = Field(default_factory=ScratchKeepalive)
    kernels: Kernels = Field(default_factory=Kernels)


_SECTION_TYPES: dict[str, type[_Section]] = {
    "connection": Connection, "defaults": Defaults, "paths": Paths,
    "notifications": Notifications, "alerts": Alerts, "shared": Shared,
    "scratch_keepalive": ScratchKeepalive, "kernels": Kernels,
}  # fmt: skip
SECTIONS = tuple(_SECTION_TYPES)


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
    return parse(_read_text(p), source=str(p))


def changed_sections(old: RvConfig, new: RvConfig) -> list[str]:
    """The sections that differ between two configs, as [name] (what a reload logs)."""
    names = [f"[{n}]" for n in SECTIONS if getattr(old, n) != getattr(new, n)]
    if old.model_extra != new.model_extra:
        names.append("sections rv does not read")
    return names


def _read_text(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read the rv config {p}: {exc.strerror}.", path=str(p)) from exc


class ConfigFiles:
    """Config files as last read: each is parsed again only when its text changed.

    The text itself is compared, not the file's mtime and size: reading a config of a
    few hundred bytes costs ~7 us against ~2 us for a stat (parsing and validating it
    ~370 us, what every proxied request used to pay), and a stamp misses a same-size
    edit within one timestamp tick (ext4's coarse clock, or a second on some network
    file systems) and any tool that restores the mtime (`cp -p`, `touch -r`).
    Not thread-safe: the caller serialises (Cluster.from_config holds its lock).
    """

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[str, RvConfig]] = {}

    def read(self, path: Path) -> tuple[RvConfig, RvConfig | None]:
        """The config at `path`, and the one it replaces if the file changed since the
        last read (None on the first read and when nothing changed)."""
        if not path.exists():
            self._seen.pop(path, None)
            return load(path), None  # raises the error that says how to create it
        text = _read_text(path)
        seen = self._seen.get(path)
        if seen is not None and seen[0] == text:
            return seen[1], None
        cfg = parse(text, source=str(path))  # an invalid edit raises, and is read again
        self._seen[path] = (text, cfg)
        return cfg, None if seen is None else seen[1]


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
        cfg = RvConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, source) from exc
    slip = misspelt(cfg)
    if slip is not None:
        raise _misspelt_error(*slip, source)
    return cfg


def misspelt(cfg: RvConfig) -> tuple[str, str] | None:
    """The first unknown key (`section.key`, or a section) one slip away from one rv
    knows, with that one: a typo, which would quietly leave the default in force.

    Other unknown keys are kept: the `rv` CLI shares the file and may know them. A key
    at the top, outside any section, that a section has is reported too (a forgotten
    `[connection]` line)."""
    for name in cfg.model_extra or {}:
        near = _near(name, SECTIONS)
        if near is not None:
            return name, near
        owners = [s for s in SECTIONS if name in _fields(s)]
        if owners:
            return name, f"{owners[0]}.{name}"
    for section in SECTIONS:
        for key in getattr(cfg, section).model_extra or {}:
            near = _near(key, _fields(section))
            if near is not None:
                return f"{section}.{key}", f"{section}.{near}"
    return None


def _fields(section: str) -> tuple[str, ...]:
    return tuple(_SECTION_TYPES[section].model_fields)


def _near(word: str, known: tuple[str, ...]) -> str | None:
    w = word.lower().replace("-", "_")
    return next((k for k in known if one_slip(w, k)), None)


def one_slip(a: str, b: str) -> bool:
    """Whether `a` is `b` with at most one letter added, dropped or changed, or two
    neighbours swapped (the optimal string alignment distance is at most 1)."""
    if a == b:
        return True
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )  # fmt: skip
    short, long = sorted((a, b), key=len)
    if len(long) - len(short) != 1:
        return False
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _misspelt_error(found: str, meant: str, source: str) -> ConfigError:
    if "." in found:
        section = found.partition(".")[0]
        return ConfigError(
            f"Unknown key `{found}` in {source}: did you mean `{meant.partition('.')[2]}`?",
            hint=f"Rename it in [{section}] of {source}; its keys: {', '.join(_fields(section))}.",
            path=source,
            key=found,
        )
    if "." in meant:
        section = meant.partition(".")[0]
        return ConfigError(
            f"`{found}` in {source} is outside any section: it belongs in [{section}].",
            hint=f"Put a [{section}] line above it in {source}.",
            path=source,
            key=found,
        )
    return ConfigError(
        f"Unknown section [{found}] in {source}: did you mean [{meant}]?",
        hint=f"Rename it in {source}; rv's sections: {', '.join(SECTIONS)}.",
        path=source,
        key=found,
    )


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
    "notifications.mail": 'mail = "abs6bd@virginia.edu"',
    "notifications.mail_type": 'mail_type = "END,FAIL"',
    "alerts.watch": "watch = true",
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
