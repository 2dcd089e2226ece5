"""Sending job notifications: a rate limit per channel, one signed POST, the Notifier
that sends an event to every channel of one user. Stdlib only, like notify.py beside it
(the watcher runs both as lone files on the node)."""

from __future__ import annotations

import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

try:
    from rv_jupyter.telemetry.notify import (
        ENV_SECRET,
        TIMEOUT_S,
        Channel,
        Event,
        Request,
        build_request,
        channels_from_env,
        check_channel,
        redact_url,
        scrub,
    )
except ImportError:  # a lone file beside notify.py, in the job
    from notify import (  # type: ignore[no-redef]
        ENV_SECRET,
        TIMEOUT_S,
        Channel,
        Event,
        Request,
        build_request,
        channels_from_env,
        check_channel,
        redact_url,
        scrub,
    )


@dataclass(frozen=True)
class Result:
    """How one send went: ok, or why not (never holding the URL's secret parts)."""

    channel: str
    ok: bool
    why: str = ""
    status: int | None = None


# -- rate limit ---------------------------------------------------------------------


class TokenBucket:
    """At most `per_minute` messages a minute on average, with bursts of `burst`."""

    def __init__(
        self,
        per_minute: float = 6.0,
        burst: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.stamp = clock()
        self.dropped = 0  # since the last message that went

    def admit(self) -> int | None:
        """None when this message must be dropped; else how many were dropped before it."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            self.dropped += 1
            return None
        self.tokens -= 1.0
        dropped, self.dropped = self.dropped, 0
        return dropped


# -- sending ------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would carry the signed body to a host the user never configured.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post(request: Request, *, timeout: float = TIMEOUT_S) -> tuple[bool, str, int | None]:
    """POST once; (ok, why, HTTP status). Never raises, never waits much past `timeout`."""
    box: list[tuple[bool, str, int | None]] = []

    def run() -> None:
        box.append(_post_blocking(request, timeout))

    # A thread bounds the whole call: urllib's timeout covers each socket operation
    # but not name resolution, which can hang far longer on a node with a slow DNS.
    worker = threading.Thread(target=run, name="rv-notify-send", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    if not box:
        return False, f"no answer within {timeout:g} s", None
    return box[0]


def _post_blocking(request: Request, timeout: float) -> tuple[bool, str, int | None]:
    opener = urllib.request.build_opener(_NoRedirect)
    req = urllib.request.Request(
        request.url, data=request.body, headers=request.headers, method="POST"
    )
    try:
        with opener.open(req, timeout=timeout) as resp:
            status = int(resp.status)
            resp.read(65536)
        return True, "", status
    except urllib.error.HTTPError as exc:
        code = int(exc.code)
        if 300 <= code < 400:
            return False, f"HTTP {code}: the URL redirects; use the final URL", code
        return False, f"HTTP {code} {exc.reason}", code
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, OSError) and reason.strerror:
            return False, f"cannot connect: {reason.strerror}", None
        return False, f"cannot connect: {reason}", None
    except (TimeoutError, OSError) as exc:
        if isinstance(exc, TimeoutError) or "timed out" in str(exc):
            return False, f"no answer within {timeout:g} s", None
        return False, f"{type(exc).__name__}: {exc}", None
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}", None


def send(
    channel: Channel,
    event: Event,
    *,
    secret: bytes,
    dropped: int = 0,
    timeout: float = TIMEOUT_S,
) -> Result:
    """Send one event to one channel; never raises; `why` never holds the URL's secrets."""
    try:
        bad = check_channel(channel.name, channel.kind, channel.url)
        if bad:
            return Result(channel.name, False, scrub(bad, channel.url))
        request = build_request(channel, event, secret=secret, dropped=dropped)
        ok, why, status = post(request, timeout=timeout)
    except Exception as exc:
        ok, why, status = False, f"{type(exc).__name__}: {exc}", None
    return Result(channel.name, ok, scrub(why, channel.url), status)


class Notifier:
    """Every channel of one user: rate limit per channel, failures logged once per outage."""

    def __init__(
        self,
        channels: list[Channel],
        secret: bytes,
        *,
        timeout: float = TIMEOUT_S,
        per_minute: float = 6.0,
        burst: int = 3,
        log: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channels = list(channels)
        self.secret = secret
        self.timeout = timeout
        self.log = log
        self.buckets = {c.name: TokenBucket(per_minute, burst, clock) for c in self.channels}
        self._failing: set[str] = set()

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **kwargs: Any) -> Notifier | None:
        """The notifier the job's env file describes, or None when it names no channel."""
        channels = channels_from_env(environ)
        secret = environ.get(ENV_SECRET, "")
        if not channels or not secret:
            return None
        kwargs.setdefault("log", sys.stderr)
        return cls(channels, secret.encode(), **kwargs)

    def notify(self, event: Event) -> list[Result]:
        """Send the event to every channel the rate limit lets through; never raises."""
        results = []
        for channel in self.channels:
            dropped = self.buckets[channel.name].admit()
            if dropped is None:
                results.append(Result(channel.name, False, "dropped by the rate limit"))
                continue
            result = send(channel, event, secret=self.secret, dropped=dropped, timeout=self.timeout)
            self._log(channel, result)
            results.append(result)
        return results

    def _log(self, channel: Channel, result: Result) -> None:
        # Once per outage: the first failure is logged, the rest are not until a send
        # on that channel works again, so a dead webhook cannot flood the job's log.
        if result.ok:
            self._failing.discard(channel.name)
            return
        if channel.name in self._failing or self.log is None:
            return
        self._failing.add(channel.name)
        try:
            self.log.write(
                f"rv-notify: sending to channel {channel.name} ({channel.kind}, "
                f"{redact_url(channel.url)}) failed: {result.why}; "
                "further failures on it are not logged.\n"
            )
            self.log.flush()
        except Exception:
            pass
