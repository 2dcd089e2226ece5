"""Notifications: three payload kinds to a real local HTTP server, signed per user,
rate-limited, never raising or hanging, never showing the URL's token."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from rv_jupyter.telemetry import delivery, notify
from rv_jupyter.telemetry.delivery import Notifier, TokenBucket
from rv_jupyter.telemetry.notify import Channel, Event
from rv_jupyter.workspace.envstore import EnvStore

TOKEN = "T0KEN9f3a7c51e2"  # what a Slack or ntfy URL hides in its path
SECRET = b"alice-secret"


@dataclass
class Received:
    path: str
    headers: Message  # case-insensitive, as HTTP headers are
    body: bytes


@dataclass
class Hooks:
    """A webhook receiver on 127.0.0.1: records every POST; the path picks the answer."""

    base: str
    got: list[Received] = field(default_factory=list)

    def url(self, what: str = "ok") -> str:
        return f"{self.base}/{what}/{TOKEN}?token={TOKEN}"


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    got: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got.append(Received(self.path, self.headers, body))
            if self.path.startswith("/slow/"):
                time.sleep(3)
            if self.path.startswith("/fail/"):
                # A hostile or chatty server may echo the request's path in its reason.
                self.send_response(500, f"cannot route {self.path}")
            elif self.path.startswith("/moved/"):
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:1/{TOKEN}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Hooks(f"http://127.0.0.1:{server.server_address[1]}", got)
    finally:
        server.shutdown()
        server.server_close()


def dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}/hook/{TOKEN}"


ENDED = Event(
    "ended", job_id="123", name="train", nodes=["udc-an28-1"], gpus="a100:4",
    state="COMPLETED", exit_code="0:0", elapsed_s=3725, sus=12.5,
)  # fmt: skip


# -- the three formats, received -----------------------------------------------------


def test_json_webhook_gets_the_event_and_a_sentence(hooks: Hooks) -> None:
    result = delivery.send(Channel("hook", "json", hooks.url()), ENDED, secret=SECRET)
    assert result == delivery.Result("hook", True, "", 200)
    (req,) = hooks.got
    data = json.loads(req.body)
    assert req.headers["Content-Type"] == "application/json"
    assert data["event"]["job_id"] == "123" and data["event"]["kind"] == "ended"
    assert data["event"]["sus"] == 12.5 and data["dropped"] == 0
    assert data["text"] == (
        "Job 123 (train) ended on udc-an28-1 with GPUs a100:4: COMPLETED, exit 0:0, "
        "ran 1h02m, 12.50 SUs."
    )


def test_ntfy_gets_plain_text_and_title_tags_priority(hooks: Hooks) -> None:
    failed = Event("failed", job_id="7", name="模型", state="OUT_OF_MEMORY", severity="error")
    assert delivery.send(Channel("phone", "ntfy", hooks.url()), failed, secret=SECRET).ok
    (req,) = hooks.got
    assert req.body.decode() == "Job 7 (模型) failed: OUT_OF_MEMORY."
    assert req.headers["Content-Type"].startswith("text/plain")
    assert req.headers["Tags"] == "x" and req.headers["Priority"] == "5"
    # A non-ASCII job name travels as an RFC 2047 encoded word (headers are Latin-1).
    from email.header import decode_header, make_header

    assert (
        str(make_header(decode_header(req.headers["Title"]))) == "rv-jupyter: job 7 (模型) failed"
    )


def test_slack_gets_text_with_markup_escaped(hooks: Hooks) -> None:
    alert = Event("alert", job_id="9", message="GPU <0> idle & costly")
    assert delivery.send(Channel("lab", "slack", hooks.url()), alert, secret=SECRET).ok
    (req,) = hooks.got
    assert json.loads(req.body) == {"text": "Job 9: GPU &lt;0&gt; idle &amp; costly"}


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (Event("started", job_id="5", nodes=["a", "b"], gpus="8"),
         "Job 5 started on a, b with GPUs 8."),
        (Event("resubmitted", job_id="5", message="Segment 2 of 4."),
         "Job 5 was resubmitted. Segment 2 of 4."),
        (Event("walltime", job_id="5", message="10 min left."),
         "Job 5 is near its walltime. 10 min left."),
        (Event("failed", job_id="5", state="TIMEOUT", elapsed_s=59),
         "Job 5 failed: TIMEOUT, ran 59s."),
        (Event("test"), "Test notification from rv-jupyter: this channel works."),
    ],
)  # fmt: skip
def test_event_text(event: Event, text: str) -> None:
    assert notify.event_text(event) == text


def test_event_round_trips_through_a_dict() -> None:
    assert Event.from_dict({**ENDED.to_dict(), "future_field": 1}) == ENDED


# -- signing -----------------------------------------------------------------------


def test_signature_verifies_with_the_users_secret_only(hooks: Hooks, tmp_path: Path) -> None:
    alice = EnvStore(tmp_path / "alice" / "env.json")
    bob = EnvStore(tmp_path / "bob" / "env.json")
    a_key = alice.signing_secret()
    assert alice.signing_secret() == a_key  # made once, then kept
    assert bob.signing_secret() != a_key  # per user, not a constant
    assert a_key not in alice.path.read_text()  # encrypted at rest
    delivery.send(Channel("hook", "json", hooks.url()), ENDED, secret=a_key.encode())
    (req,) = hooks.got
    ts, sig = req.headers["X-RV-Timestamp"], req.headers["X-RV-Signature"]
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert notify.verify(a_key.encode(), req.body, ts, sig)
    assert not notify.verify(bob.signing_secret().encode(), req.body, ts, sig)
    assert not notify.verify(a_key.encode(), req.body + b" ", ts, sig)  # body tampered
    assert not notify.verify(a_key.encode(), req.body, str(int(ts) + 1), sig)  # time changed
    assert not notify.verify(a_key.encode(), req.body, ts, sig, now=float(ts) + 3600)  # replay


# -- rate limit ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "admitted"),
    [
        ([0, 0, 0, 0], [0, 0, 0, None]),  # a burst of 3, the 4th dropped
        ([0, 0, 0, 0, 0, 10], [0, 0, 0, None, None, 2]),  # 10 s refills one: 2 dropped said
        ([0, 10, 20, 30, 40, 50, 60], [0, 0, 0, 0, 0, 0, 0]),  # 6 a minute keep up
        ([0, 1, 2, 3, 4, 5, 6], [0, 0, 0, None, None, None, None]),
    ],
)
def test_token_bucket(times: list[float], admitted: list[int | None]) -> None:
    now = [0.0]
    bucket = TokenBucket(per_minute=6, burst=3, clock=lambda: now[0])
    out = []
    for t in times:
        now[0] = t
        out.append(bucket.admit())
    assert out == admitted


def test_rate_limit_drops_then_summarises_in_the_next_message(hooks: Hooks) -> None:
    now = [0.0]
    n = Notifier([Channel("hook", "json", hooks.url())], SECRET, clock=lambda: now[0])
    results = [n.notify(Event("alert", job_id="1", message=f"#{i}"))[0] for i in range(5)]
    assert [r.ok for r in results] == [True, True, True, False, False]
    assert results[3].why == "dropped by the rate limit"
    assert len(hooks.got) == 3
    now[0] = 10.0
    assert n.notify(Event("alert", job_id="1", message="#5"))[0].ok
    data = json.loads(hooks.got[-1].body)
    assert data["dropped"] == 2
    assert data["text"] == "Job 1: #5 (2 earlier notifications dropped by the rate limit.)"


# -- failures: a reason, no exception, no wait, no token -----------------------------


@pytest.mark.parametrize(
    ("what", "why"),
    [
        ("fail", "HTTP 500 cannot route …?…"),
        ("moved", "HTTP 302: the URL redirects; use the final URL"),
    ],
)
def test_an_error_answer_is_a_reason_without_the_token(hooks: Hooks, what: str, why: str) -> None:
    result = delivery.send(Channel("hook", "json", hooks.url(what)), ENDED, secret=SECRET)
    assert not result.ok and result.why == why and TOKEN not in result.why


def test_a_dead_url_returns_a_reason_quickly() -> None:
    t0 = time.monotonic()
    result = delivery.send(Channel("hook", "json", dead_url()), ENDED, secret=SECRET, timeout=2)
    assert time.monotonic() - t0 < 2
    assert result.ok is False and result.why == "cannot connect: Connection refused"


def test_a_silent_server_costs_the_timeout_and_no_more(hooks: Hooks) -> None:
    t0 = time.monotonic()
    result = delivery.send(
        Channel("h", "ntfy", hooks.url("slow")), ENDED, secret=SECRET, timeout=0.5
    )
    assert time.monotonic() - t0 < 1.5
    assert result == delivery.Result("h", False, "no answer within 0.5 s")


@pytest.mark.parametrize(
    "url",
    [f"ftp://example.org/{TOKEN}", f"https:///{TOKEN}", f"notaurl{TOKEN}", f"http://h/{TOKEN} x"],
)
def test_an_unusable_url_is_refused_without_being_shown(url: str) -> None:
    result = delivery.send(Channel("hook", "json", url), ENDED, secret=SECRET)
    assert not result.ok and result.why and TOKEN not in result.why
    assert TOKEN not in repr(Channel("hook", "json", url))


def test_a_failing_channel_is_logged_once_per_outage_without_the_token(hooks: Hooks) -> None:
    log = io.StringIO()
    dead = Channel("dead", "slack", dead_url())
    live = Channel("live", "json", hooks.url())
    n = Notifier([dead, live], SECRET, log=log, per_minute=600, burst=10, timeout=1)
    for _ in range(3):
        assert [r.ok for r in n.notify(Event("alert", message="m"))] == [False, True]
    assert log.getvalue().splitlines() == [
        f"rv-notify: sending to channel dead (slack, {dead.url.split('/hook/')[0]}/…) failed: "
        "cannot connect: Connection refused; further failures on it are not logged."
    ]
    assert TOKEN not in log.getvalue()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://hooks.slack.com/services/T0/B0/{TOKEN}", "https://hooks.slack.com/…"),
        (f"https://ntfy.sh/{TOKEN}", "https://ntfy.sh/…"),
        (f"https://user:{TOKEN}@example.org:8443/", "https://example.org:8443"),
        (f"https://example.org?key={TOKEN}", "https://example.org/…"),
        ("https://example.org", "https://example.org"),
        ("garbage", "<url>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert notify.redact_url(url) == shown


# -- into the job and back out ---------------------------------------------------------


def test_the_env_file_variables_make_the_same_notifier(hooks: Hooks) -> None:
    env = notify.to_env([Channel("lab", "slack", hooks.url())], "s3")
    assert set(env) == {"RV_NOTIFY_CHANNELS", "RV_NOTIFY_SECRET", "RV_NOTIFY_URL_LAB"}
    n = Notifier.from_env(env, log=io.StringIO())
    assert n is not None and n.notify(Event("started", job_id="1"))[0].ok
    req = hooks.got[0]
    assert notify.verify(
        b"s3", req.body, req.headers["X-RV-Timestamp"], req.headers["X-RV-Signature"]
    )
    assert Notifier.from_env({}) is None
    custom = {
        "RV_NOTIFY_CHANNELS": "x:ntfy:MY_URL",
        "MY_URL": "https://ntfy.sh/t",
        "RV_NOTIFY_SECRET": "s",
    }
    assert notify.channels_from_env(custom) == [Channel("x", "ntfy", "https://ntfy.sh/t")]


def test_the_modules_run_alone_on_a_bare_python(hooks: Hooks, tmp_path: Path) -> None:
    # As the in-job watcher loads them: two lone files, the node's python3, no site-packages.
    import subprocess
    import sys

    for module in (notify, delivery):
        (tmp_path / Path(module.__file__ or "").name).write_text(
            Path(module.__file__ or "").read_text()
        )
    code = (
        f"import os, sys; sys.path.insert(0, {str(tmp_path)!r}); import delivery, notify\n"
        "r = delivery.Notifier.from_env(os.environ).notify(notify.Event('started', job_id='42'))\n"
        "print(r[0].ok, sorted(m for m in sys.modules if m.startswith('rv_')))\n"
    )
    env = notify.to_env([Channel("c", "json", hooks.url())], "k")
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True []"  # nothing of rv_jupyter was needed
    assert json.loads(hooks.got[0].body)["event"]["job_id"] == "42"


# -- %rv_notify, through a real IPython shell ------------------------------------------


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    cfg = tmp_path / "config.toml"
    cfg.write_text('[connection]\nuser = "rvtest"\n')
    monkeypatch.setenv("RV_CONFIG", str(cfg))
    sh = start_ipython() or get_ipython()  # type: ignore[no-untyped-call]
    sh.run_line_magic("load_ext", "rv")
    return sh


def test_rv_notify_add_list_test_remove(
    shell: Any, hooks: Hooks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = dead_url()
    monkeypatch.setenv("PHONE_URL", hooks.url())
    monkeypatch.setenv("DEAD_URL", dead)
    shell.run_line_magic("rv_notify", "add phone --kind ntfy --from-env PHONE_URL")
    shell.run_line_magic("rv_notify", "add dead --kind json --from-env DEAD_URL")
    monkeypatch.setattr("getpass.getpass", lambda prompt="": hooks.url())
    listed = shell.run_line_magic("rv_notify", "add lab --kind slack")
    assert listed.to_dict("records")[0] == {
        "channel": "dead", "kind": "json", "url": dead.split("/hook/")[0] + "/…", "stored": True,
    }  # fmt: skip
    assert listed["channel"].tolist() == ["dead", "lab", "phone"]

    frame = shell.run_line_magic("rv_notify", "test")
    rows = {r["channel"]: r for r in frame.to_dict("records")}
    assert rows["phone"]["ok"] and rows["lab"]["ok"] and rows["phone"]["why"] == "HTTP 200"
    assert not rows["dead"]["ok"] and rows["dead"]["why"] == "cannot connect: Connection refused"
    assert {r.headers.get("Title") for r in hooks.got} == {"rv-jupyter: test notification", None}
    store = EnvStore(tmp_path / "env.json")
    for req in hooks.got:
        ts, sig = req.headers["X-RV-Timestamp"], req.headers["X-RV-Signature"]
        assert notify.verify(store.signing_secret().encode(), req.body, ts, sig)

    config = (tmp_path / "config.toml").read_text()
    assert "[notifications.channels.phone]" in config and 'kind = "ntfy"' in config
    for text in (config, store.path.read_text(), frame.to_string(), frame.to_html(),
                 shell.run_line_magic("rv_notify", "list").to_string()):  # fmt: skip
        assert TOKEN not in text
    assert store.get("RV_NOTIFY_CHANNELS") == "dead:json,lab:slack,phone:ntfy"

    key_file = tmp_path / "key"
    said = shell.run_line_magic("rv_notify", f"key {key_file}")
    assert said == f"Your signing key is in {key_file} (0600); give it only to your own receiver."
    assert key_file.read_text().strip() == store.signing_secret()
    assert key_file.stat().st_mode & 0o777 == 0o600
    with pytest.raises(UsageError, match="exists: name a new file"):
        shell.run_line_magic("rv_notify", f"key {key_file}")

    with pytest.raises(UsageError, match="A channel 'phone' exists: remove it first"):
        shell.run_line_magic("rv_notify", "add Phone --kind ntfy --from-env PHONE_URL")

    after = shell.run_line_magic("rv_notify", "remove dead")
    assert after["channel"].tolist() == ["lab", "phone"]
    assert store.get("RV_NOTIFY_URL_DEAD") is None
    assert store.get("RV_NOTIFY_CHANNELS") == "lab:slack,phone:ntfy"
    # What a job's env file carries is enough for the watcher to reach the same hooks.
    env = dict(line.split("=", 1) for line in store.env_file().splitlines())
    env = {k: v.strip("'") for k, v in env.items()}
    n = Notifier.from_env(env)
    assert n is not None and [c.name for c in n.channels] == ["lab", "phone"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("add", "%rv_notify add needs a channel name."),
        ("add phone", "%rv_notify add phone needs --kind slack, ntfy or json."),
        ("add 9lives --kind ntfy", "'9lives' is not a channel name: use a letter, then letters, "
         "digits or _."),
        (f"add phone --kind ntfy https://ntfy.sh/{TOKEN}",
         "Do not type the URL on the line (it would stay in the notebook): `%rv_notify add NAME "
         "--kind KIND` asks for it, or use --from-env VAR."),
        (f"add phone --kind https://ntfy.sh/{TOKEN}",
         "Do not type the URL on the line (it would stay in the notebook): `%rv_notify add NAME "
         "--kind KIND` asks for it, or use --from-env VAR."),
        ("add phone --kind ntfy --from-env RV_NO_SUCH_VAR",
         "$RV_NO_SUCH_VAR is not set or empty: export the URL there first."),
        ("add phone --kind ntfy --from-env BAD_URL",
         "'ftp://ntfy.sh/…' is not an http(s) URL. Run %rv_notify add again with the full URL."),
        ("remove nope", "No notification channel 'nope' (channels: none yet)."),
        ("remove", "%rv_notify remove needs a channel name."),
        ("key", "%rv_notify key needs a new file to write."),
        ("test", "No notification channels: add one with %rv_notify add NAME --kind ntfy."),
        ("test phone", "%rv_notify test takes no channel name."),
        ("list --kind ntfy", "--kind and --from-env go with %rv_notify add."),
    ],
)  # fmt: skip
def test_rv_notify_bad_input_is_one_line(
    shell: Any, monkeypatch: pytest.MonkeyPatch, line: str, message: str
) -> None:
    monkeypatch.setenv("BAD_URL", f"ftp://ntfy.sh/{TOKEN}")
    with pytest.raises(UsageError) as err:
        shell.run_line_magic("rv_notify", line)
    assert str(err.value) == message
