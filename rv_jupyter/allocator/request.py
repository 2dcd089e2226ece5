"""What the user asks for, checked against Rivanna's limits before anything is submitted."""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rv_jupyter.errors import RequestError
from rv_jupyter.facts import GPU_TYPES, GpuType
from rv_jupyter.facts.rivanna import MAX_GPUS_PER_USER
from rv_jupyter.jobs.resources import MIG_MEM_GB

if TYPE_CHECKING:
    from rv_jupyter.config import Defaults

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
# Nothing on Rivanna runs longer than its 3-day limit; checkpoint segments may add up to
# more, but a total beyond a month is a typo (or an overflow) rather than a plan.
MAX_TOTAL_S = 30 * 86400
_TIME_HINT = "Write it like 90m, 2h, 2h30m, 3d or 2:59:00."


def parse_time(text: str | int) -> int:
    """Seconds in `90m`, `2h`, `1.5h`, `3d`, `2h30m`, `1:30:00` or `2-00:00:00`.

    A bare number is refused: Slurm reads `--time 2` as two minutes, researchers mean
    hours as often, and a wrong guess costs a job. Only ASCII digits count (`\\d` would
    take `٣` and `²`), and minutes and seconds stay below 60 (`1:99` is a typo).
    """
    if isinstance(text, int):
        return _capped(text, str(text))
    t = text.strip().lower().replace(" ", "")
    if not t.isascii():
        raise RequestError(
            f"Cannot read the time {_shown(text)}: use ASCII digits.", hint=_TIME_HINT
        )
    m = re.fullmatch(r"(?:(\d{1,4})-)?(\d{1,6}):(\d{2})(?::(\d{2}))?", t)
    if m:
        d, a, b, c = m.groups()
        h, mi, s = (a, b, c) if c is not None else (a, b, "0")
        if int(mi) >= 60 or int(s) >= 60:
            raise RequestError(
                f"Cannot read the time {_shown(text)}: minutes and seconds go up to 59.",
                hint=_TIME_HINT,
            )
        return _capped(int(d or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + int(s), text)
    parts = re.findall(r"(\d{1,6}(?:\.\d{1,6})?)(min|[smhd])", t)
    if parts and "".join(n + u for n, u in parts) == t:
        return _capped(int(sum(float(n) * _UNITS[u] for n, u in parts)), text)
    if re.fullmatch(r"\d+(?:\.\d+)?", t):
        n = t if len(t) <= 8 else t[:8] + "..."
        raise RequestError(
            f"The time {n} has no unit: Slurm would read {n} minutes, you may mean {n} hours.",
            hint=f"Write --time {n}h for hours or --time {n}m for minutes.",
        )
    raise RequestError(f"Cannot read the time {_shown(text)}.", hint=_TIME_HINT)


def _capped(seconds: int, text: str) -> int:
    if seconds > MAX_TOTAL_S:
        raise RequestError(
            f"The time {_shown(text)} is more than rv plans for (at most "
            f"{MAX_TOTAL_S // 86400} days, checkpoint segments included).",
            hint="Ask for at most --time 30d; a GPU job on Rivanna runs at most 3d at once.",
        )
    return seconds


def _shown(text: object) -> str:
    """The user's value for an error message, cut so a pasted essay does not come back."""
    r = repr(text)
    return r if len(r) <= 40 else r[:37] + "..."


def parse_mem(text: str | int | None) -> int | None:
    """GB in `64G`, `64GB`, `512M` (rounded up), or a plain number of GB."""
    if text is None or isinstance(text, int):
        return text
    m = re.fullmatch(r"(\d{1,9}(?:\.\d{1,6})?)\s*([mgt]?)b?", text.strip().lower(), re.ASCII)
    if not m:
        raise RequestError(f"Cannot read the memory {_shown(text)}.", hint="Write it like 64G.")
    value = float(m.group(1)) * {"m": 1 / 1024, "g": 1, "t": 1024, "": 1}[m.group(2)]
    return max(1, -(-int(value * 1000) // 1000))


_FLAGS = {"gpus": "--gpu", "gpu_type": "--type", "time_s": "--time", "mem_gb": "--mem",
          "vram_gb": "--vram", "segment_s": "--segment"}  # fmt: skip


class Request(BaseModel):
    """GPUs as a researcher thinks of them; the allocator finds the Slurm for it."""

    # A misspelt field must not quietly become the default (`tpye="a100_80"` -> any).
    model_config = ConfigDict(frozen=True, extra="forbid")

    gpus: int = Field(default=1, ge=1)
    gpu_type: str = "any"
    time_s: int = Field(default=2 * 3600 + 59 * 60, gt=0)
    mem_gb: int | None = Field(default=None, ge=1)
    vram_gb: int | None = Field(default=None, ge=1)  # at least this much per GPU
    nodes: int | None = Field(default=None, ge=1)
    name: str = "rv"
    account: str | None = None
    # Segments need a payload that saves on SIGUSR1, so they are opt-in.
    checkpoint: bool = False
    # A segment length the user chose (else the backfill window decides); implies
    # checkpoint. Slurm signals a segment's end with at most a minute's slack, so less
    # than two minutes leaves the program no time to work.
    segment_s: int | None = Field(default=None, ge=120)
    request_id: str = Field(default_factory=lambda: secrets.token_hex(6))
    # Run the watchdog inside the job (alerts reach the user's webhooks with the laptop
    # closed); `[alerts] watch` in the config is the default.
    watch: bool = False

    @field_validator("gpu_type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        v = v.strip().lower().replace("-", "_")
        if v != "any" and v not in GPU_TYPES:
            raise ValueError(f"unknown GPU type {v!r}; known: any, {', '.join(GPU_TYPES)}")
        return v

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v):
            raise ValueError(f"{v!r}: use letters, digits and . _ - (at most 64)")
        return v

    @field_validator("request_id")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{6,32}", v):
            raise ValueError("request_id must be 6-32 lowercase hex digits")
        return v

    @classmethod
    def build(cls, **fields: object) -> Request:
        """A Request from user-typed values (times like "2h"), with errors that name the field."""
        if "time" in fields:
            fields["time_s"] = parse_time(fields.pop("time"))  # type: ignore[arg-type]
        if fields.get("segment") is not None:
            fields["segment_s"] = parse_time(fields.pop("segment"))  # type: ignore[arg-type]
            fields["checkpoint"] = True
        fields.pop("segment", None)
        if "mem" in fields:
            fields["mem_gb"] = parse_mem(fields.pop("mem"))  # type: ignore[arg-type]
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            e = exc.errors()[0]
            if e["type"] == "extra_forbidden":
                valid = sorted({*cls.model_fields, "time", "mem", "segment"} - {"request_id"})
                raise RequestError(
                    f"Unknown request field {str(e['loc'][0])[:40]!r}.",
                    hint=f"Valid fields: {', '.join(valid)}.",
                ) from None
            msg = str(e["msg"]).removeprefix("Value error, ")
            if not e["loc"]:  # a check across fields names its flags itself
                raise RequestError(f"{msg}.") from None
            field = str(e["loc"][0])
            flag = _FLAGS.get(field, "--" + field.replace("_", "-"))
            raise RequestError(f"{flag}: {msg}.") from None

    @classmethod
    def from_config(cls, defaults: Defaults, **said: object) -> Request:
        """A Request from what the user said, the config's [defaults] filling the rest
        (every face builds its request here, so a default means the same everywhere)."""
        return cls.build(**defaults.fill(**said))

    @model_validator(mode="after")
    def _segment_fits(self) -> Request:
        if self.segment_s is not None and self.segment_s >= self.time_s:
            raise ValueError(
                f"--segment {self.segment_s // 60}m is not shorter than --time "
                f"{self.time_s // 60}m: segments cut a run into parts"
            )
        return self

    @property
    def tag(self) -> str:
        """The Slurm comment every job of this request carries (finds its siblings)."""
        return f"rv:{self.request_id}"


def compatible_types(req: Request) -> tuple[list[GpuType], dict[str, str]]:
    """GPU types that can serve the whole request, and why each other type cannot.

    Raises RequestError when none can, or when an explicitly asked type cannot: an
    impossible request submits nothing.
    """
    if req.gpus > MAX_GPUS_PER_USER:
        raise RequestError(
            f"Rivanna allows at most {MAX_GPUS_PER_USER} GPUs per user; you asked {req.gpus}.",
            hint=f"Try --gpu {MAX_GPUS_PER_USER}.",
        )
    asked = [GPU_TYPES[req.gpu_type]] if req.gpu_type != "any" else list(GPU_TYPES.values())
    ok, skipped = [], {}
    for t in asked:
        why = _why_not(t, req)
        if why:
            skipped[t.key] = why
        else:
            ok.append(t)
    if not ok:
        if req.gpu_type != "any":
            t = asked[0]
            raise RequestError(f"{t.label} ({t.partition}): {skipped[t.key]}.", hint=_hint(t, req))
        raise RequestError(
            "No GPU type can serve this request: "
            + "; ".join(f"{k}: {v}" for k, v in skipped.items())
            + ".",
            hint="Ask for fewer GPUs, less time (or --checkpoint), less memory, or less VRAM.",
        )
    return ok, skipped


def _why_not(t: GpuType, req: Request) -> str | None:
    if req.gpu_type == "any" and t.mig and req.gpus > 1:
        return "MIG slices serve 1-GPU jobs only"
    if req.gpus > t.max_per_user:
        return f"at most {t.max_per_user} per user; you asked {req.gpus}"
    if req.gpus > t.max_per_job:
        return f"at most {t.max_per_job} per job; you asked {req.gpus}"
    if req.vram_gb and t.vram_gb < req.vram_gb:
        return f"{t.vram_gb} GB of VRAM per GPU; you need {req.vram_gb} GB"
    if req.time_s > t.max_walltime_s and not req.checkpoint:
        return f"{t.partition} allows {_hours(t.max_walltime_s)}; you asked {_hours(req.time_s)}"
    if t.interactive and (req.segment_s or (req.checkpoint and req.time_s > t.max_walltime_s)):
        # Segments are a batch job resubmitting itself for hours: not interactive work.
        return f"{t.partition} is for interactive work, not checkpoint segments"
    cap = _mem_cap(t)
    if req.mem_gb and req.mem_gb > cap:
        what = (
            "MIG jobs may use at most" if t.mig
            else "its nodes have" if t.node_mem_gb
            else "no Rivanna GPU node has more than"
        )  # fmt: skip
        return f"{what} {cap} GB of memory; you asked {req.mem_gb} GB per node"
    if req.nodes and req.nodes > 1 and (t.mig or t.interactive):
        return "single-node only"
    if req.nodes and req.gpus % req.nodes:
        return f"{req.gpus} GPUs do not split evenly over {req.nodes} nodes"
    if req.nodes and req.gpus // req.nodes > t.per_node:
        return f"{t.per_node} GPUs per node"
    return None


def _hint(t: GpuType, req: Request) -> str:
    if req.gpus > t.max_per_job or req.gpus > t.max_per_user:
        n = min(t.max_per_job, t.max_per_user)
        return f"Try --gpu {n}" + (
            f" or --type {alt.key}." if (alt := alternative(t, req)) else "."
        )
    cap = _mem_cap(t)
    if req.mem_gb and req.mem_gb > cap:
        return f"Try --mem {cap}G, or --type any to let rv pick nodes with more memory."
    if t.interactive and req.checkpoint:
        return "Try --type any: segments run on the batch GPU partitions."
    if req.time_s > t.max_walltime_s:
        segments = "--checkpoint --type any" if t.interactive else "--checkpoint"
        return f"Try --time {flag_time(t.max_walltime_s)}, or {segments} to run in segments."
    if req.vram_gb and t.vram_gb < req.vram_gb:
        return "Try --type any to let rv pick a GPU with enough memory."
    return "Try --type any."


def alternative(t: GpuType, req: Request) -> GpuType | None:
    """The type to suggest instead of `t` for this request, if one can serve it."""
    # The smallest GPU at least as large as the one asked for, else the largest there is.
    fits = [o for o in GPU_TYPES.values() if o is not t and not _why_not(o, req)]
    bigger = [o for o in fits if o.vram_gb >= t.vram_gb]
    if bigger:
        return min(bigger, key=lambda o: o.vram_gb)
    return max(fits, key=lambda o: o.vram_gb) if fits else None


def _mem_cap(t: GpuType) -> int:
    # MIG's QOS caps memory; other partitions by what their nodes hold, or where that is
    # not in the facts, by the largest GPU node there is.
    if t.mig:
        return MIG_MEM_GB
    return t.node_mem_gb or max(g.node_mem_gb or 0 for g in GPU_TYPES.values())


def flag_time(seconds: int) -> str:
    """A time as it can be pasted after --time: 12h, 3d, 90m, 2h30m."""
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    h, m = divmod(seconds // 60, 60)
    if not m:
        return f"{h}h"
    return f"{h}h{m}m" if h else f"{m}m"


def _hours(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days" if seconds > 86400 else "1 day"
    return f"{seconds / 3600:g} h"
