"""Job notifications: events, channels, payloads, signing, redaction. Stdlib only.

How they are sent (rate limit, POST, the per-user Notifier) is delivery.py, beside it.

Stdlib only (and Python 3.8 syntax) because the same file runs in two places: on the
laptop (`%rv_notify test`) and uploaded as the source of the watcher that runs inside
the job, under the node's own python3, so events arrive with the laptop closed. It
imports nothing from rv_jupyter: the watcher loads it (and delivery.py) as lone files.

Interface the in-job watcher uses (delivery.py)::

    notifier = Notifier.from_env(os.environ)     # None when no channel is configured
    notifier.notify(Event("started", job_id="123", name="train", nodes=["udc-an28-1"]))

The channels and the per-user signing secret reach the job only through the job's 0600
env file (see `to_env`), never a command line or the batch script. Every request
carries `X-RV-Timestamp: <unix seconds>` and `X-RV-Signature: sha256=<hex>`, the HMAC
of `b"<timestamp>." + body` under the user's secret: the timestamp is signed too, so a
captured request cannot be replayed later with a fresh timestamp (`verify` checks both).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from email.header import Header
from typing import Any

EVENT_KINDS = ("started", "ended", "failed", "resubmitted", "walltime", "alert", "test")
CHANNEL_KINDS = ("json", "ntfy", "slack")
TIMEOUT_S = 5.0
SIGNATURE_HEADER = "X-RV-Signature"
TIMESTAMP_HEADER = "X-RV-Timestamp"
MAX_SKEW_S = 300.0

# Names of the variables that carry the notification setup into the job's env file.
ENV_CHANNELS = "RV_NOTIFY_CHANNELS"  # "name:kind,name:kind[:URL_VAR]"
ENV_SECRET = "RV_NOTIFY_SECRET"  # the per-user signing secret, hex
ENV_URL_PREFIX = "RV_NOTIFY_URL_"  # + NAME upper-cased: the channel's URL

CHANNEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")

# ntfy: tags become emoji on the phone; priority 4 = high makes it buzz.
_NTFY = {
    "started": ("arrow_forward", "3"), "ended": ("white_check_mark", "3"),
    "failed": ("x", "4"), "resubmitted": ("repeat", "3"), "walltime": ("hourglass", "4"),
    "alert": ("warning", "4"), "test": ("bell", "2"),
}  # fmt: skip


@dataclass
class Event:
    """Something that happened to a job; fields a kind does not use stay empty."""

    kind: str  # one of EVENT_KINDS
    job_id: str = ""
    name: str = ""
    nodes: list[str] = field(default_factory=list)
    gpus: str = ""  # e.g. "4" or "a100:4"
    state: str = ""  # Slurm state, e.g. COMPLETED, TIMEOUT, OUT_OF_MEMORY
    exit_code: str = ""  # Slurm's "code:signal", e.g. "0:0"
    elapsed_s: float | None = None
    sus: float | None = None
    message: str = ""
    severity: str = "info"  # info, warning, error
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data (the generic webhook's `event`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """An event from `to_dict`'s output; unknown keys are ignored."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class Channel:
    """Where notifications go: a name the user chose, a kind, and a (secret) URL."""

    name: str
    kind: str  # one of CHANNEL_KINDS
    url: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Channel(name={self.name!r}, kind={self.kind!r}, url={redact_url(self.url)!r})"


@dataclass(frozen=True)
class Request:
    """One HTTP POST, ready to go."""

    url: str = field(repr=False)  # its path or query is a token
    body: bytes
    headers: dict[str, str]


# -- checks -------------------------------------------------------------------------


def check_channel(name: str, kind: str, url: str) -> str | None:
    """Why this channel is unusable (one sentence, URL redacted), or None when it is fine."""
    if not CHANNEL_NAME.match(name):
        return f"{name!r} is not a channel name: use a letter, then letters, digits or _."
    if kind not in CHANNEL_KINDS:
        return f"{kind!r} is not a channel kind: use one of {', '.join(CHANNEL_KINDS)}."
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{redact_url(url)!r} is not an http(s) URL."
    if any(c.isspace() for c in url.strip()):
        return "The URL holds spaces."
    return None


# -- text ---------------------------------------------------------------------------


def headline(event: Event) -> str:
    """The event in one short line (ntfy's title)."""
    job = f"job {event.job_id}" if event.job_id else "job"
    if event.name:
        job += f" ({event.name})"
    if event.kind == "test":
        return "rv-jupyter: test notification"
    word = "walltime warning" if event.kind == "walltime" else event.kind
    return f"rv-jupyter: {job} {word}"


def event_text(event: Event, *, dropped: int = 0) -> str:
    """The event as a sentence or two, with a note of messages the rate limit dropped."""
    job = f"Job {event.job_id}" if event.job_id else "The job"
    if event.name:
        job += f" ({event.name})"
    where = ""
    if event.nodes:
        where = " on " + ", ".join(event.nodes)
    if event.gpus:
        where += f" with GPUs {event.gpus}"
    facts = [x for x in (
        event.state,
        f"exit {event.exit_code}" if event.exit_code else "",
        f"ran {format_duration(event.elapsed_s)}" if event.elapsed_s is not None else "",
        f"{event.sus:.2f} SUs" if event.sus is not None else "",
    ) if x]  # fmt: skip
    tail = f": {', '.join(facts)}" if facts else ""
    if event.kind == "started":
        text = f"{job} started{where}."
    elif event.kind in ("ended", "failed"):
        text = f"{job} {event.kind}{where}{tail}."
    elif event.kind == "resubmitted":
        text = f"{job} was resubmitted{tail}."
    elif event.kind == "walltime":
        text = f"{job} is near its walltime{where}."
    elif event.kind == "test":
        text = "Test notification from rv-jupyter: this channel works."
    else:
        text = f"{job}{where}:"
    if event.message:
        text += " " + event.message
    if dropped:
        s = "" if dropped == 1 else "s"
        text += f" ({dropped} earlier notification{s} dropped by the rate limit.)"
    return text


def format_duration(seconds: float) -> str:
    """`3h05m`, `12m30s`, `45s`."""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


# -- payloads and signing -----------------------------------------------------------


def payload(channel: Channel, event: Event, *, dropped: int = 0) -> tuple[bytes, dict[str, str]]:
    """The body and kind-specific headers for one channel kind."""
    text = event_text(event, dropped=dropped)
    if channel.kind == "slack":
        body = json.dumps({"text": _slack_escape(text)}).encode()
        return body, {"Content-Type": "application/json"}
    if channel.kind == "ntfy":
        tag, priority = _NTFY.get(event.kind, ("bell", "3"))
        if event.severity == "error":
            priority = "5"
        return text.encode("utf-8"), {
            "Content-Type": "text/plain; charset=utf-8",
            "Title": _header_value(headline(event)),
            "Tags": tag,
            "Priority": priority,
        }
    data = {"source": "rv-jupyter", "text": text, "dropped": dropped, "event": event.to_dict()}
    return json.dumps(data, sort_keys=True).encode(), {"Content-Type": "application/json"}


def _slack_escape(text: str) -> str:
    # Slack reads &, < and > as markup (links, mentions); plain text must escape them.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _header_value(text: str) -> str:
    # http.client sends headers as Latin-1; a job name in any other script would raise.
    # RFC 2047 encoded words are what ntfy reads for a UTF-8 title.
    try:
        text.encode("ascii")
    except UnicodeEncodeError:
        return Header(text, "utf-8").encode()
    return text


def sign(secret: bytes, body: bytes, timestamp: str) -> str:
    """`sha256=<hex>`: the HMAC of `timestamp + "." + body` under the user's secret."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: bytes,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    now: float | None = None,
    max_skew_s: float = MAX_SKEW_S,
) -> bool:
    """Whether a received request was signed with this secret, recently (for receivers)."""
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    return age <= max_skew_s and hmac.compare_digest(sign(secret, body, timestamp), signature)


def build_request(
    channel: Channel,
    event: Event,
    *,
    secret: bytes,
    dropped: int = 0,
    now: float | None = None,
) -> Request:
    """The signed POST for one channel and event."""
    body, headers = payload(channel, event, dropped=dropped)
    ts = str(int(time.time() if now is None else now))
    headers = dict(headers)
    headers[TIMESTAMP_HEADER] = ts
    headers[SIGNATURE_HEADER] = sign(secret, body, ts)
    headers["User-Agent"] = "rv-jupyter-notify"
    return Request(url=channel.url.strip(), body=body, headers=headers)


def new_secret() -> str:
    """A fresh per-user signing secret (hex, 256 bits)."""
    import secrets

    return secrets.token_hex(32)


# -- redaction ----------------------------------------------------------------------


def redact_url(url: str) -> str:
    """The URL with everything after the host hidden: paths and queries hold tokens."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<url>"
    if not parts.scheme or not host:
        return "<url>"
    rest = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def scrub(text: str, url: str) -> str:
    """`text` with the URL and each of its secret-bearing pieces replaced by `…`."""
    raw = url.strip()
    pieces = {raw, urllib.parse.unquote(raw)}
    try:
        parts = urllib.parse.urlsplit(raw)
    except ValueError:
        parts = None
    if parts is not None:
        for p in (parts.path, parts.query, parts.fragment, parts.username, parts.password):
            if p:
                pieces.add(p)
                pieces.add(urllib.parse.unquote(p))
        for seg in re.split(r"[/?&=#;]", parts.path + "&" + parts.query + "&" + parts.fragment):
            # Short pieces such as "v1" are not secrets, and replacing them would
            # mangle ordinary words in the message.
            if len(seg) >= 4:
                pieces.add(seg)
                pieces.add(urllib.parse.unquote(seg))
    for piece in sorted(pieces, key=len, reverse=True):
        if piece:
            text = text.replace(piece, "…")
    return text


# -- the job's env file -------------------------------------------------------------


def url_var(name: str) -> str:
    """The env-file variable holding a channel's URL."""
    return ENV_URL_PREFIX + name.upper()


def to_env(channels: list[Channel], secret: str) -> dict[str, str]:
    """The variables that carry these channels and the secret into the job's 0600 env file."""
    env = {ENV_CHANNELS: ",".join(f"{c.name}:{c.kind}" for c in channels), ENV_SECRET: secret}
    for c in channels:
        env[url_var(c.name)] = c.url
    return env


def channels_from_env(environ: Mapping[str, str]) -> list[Channel]:
    """The channels `to_env` described; entries without a usable URL are skipped."""
    out = []
    for item in environ.get(ENV_CHANNELS, "").split(","):
        # "name:kind", or "name:kind:VAR" when the URL sits in a variable of another name.
        name, _, rest = item.strip().partition(":")
        kind, _, var = rest.partition(":")
        url = environ.get(var or url_var(name), "")
        if name and url and check_channel(name, kind, url) is None:
            out.append(Channel(name, kind, url))
    return out
