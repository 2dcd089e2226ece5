"""%rv_notify: the webhooks jobs notify (add, list, remove, test).

Where things live: the channel's name and kind in `[notifications.channels.NAME]` of
the rv config, its URL (the token is in the URL) as an encrypted %rv_env secret
`RV_NOTIFY_URL_NAME`, referenced from the config by `url_secret`. Being %rv_env
variables, the URLs, the user's signing secret and the channel list reach every job
only through its 0600 env file, where the in-job watcher reads them
(`Notifier.from_env`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics

from rv_jupyter.magics.common import (
    CONFIG_HELP,
    argument,
    line_magic,
    magic_arguments,
    magics_class,
    parse_argstring,
    user_errors,
)
from rv_jupyter.telemetry import delivery, notify

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from rv_jupyter.config import RvConfig
    from rv_jupyter.workspace.envstore import EnvStore

COLUMNS = ["channel", "kind", "url", "ok", "why"]


@magics_class
class NotifyMagics(Magics):
    """%rv_notify."""

    @magic_arguments()
    @argument("action", choices=["add", "list", "remove", "test", "key"], help="what to do")
    @argument("name", nargs="?", help="the channel's name (add, remove); key: a file to write")
    @argument("--kind", choices=list(notify.CHANNEL_KINDS), help="add: slack, ntfy or json")
    @argument("--from-env", dest="from_env", metavar="VAR", help="add: read the URL from $VAR")
    @argument("--config", help=CONFIG_HELP)
    @line_magic
    @user_errors
    def rv_notify(self, line: str) -> Any:
        """Webhooks your jobs notify when they start, end, fail or need you.

        `%rv_notify add phone --kind ntfy` asks for the URL without showing it (or
        `--from-env VAR` reads it from the environment); `%rv_notify list`,
        `%rv_notify remove phone`, `%rv_notify test` sends a test message to every
        channel and says which worked. URLs are stored encrypted, never shown.
        `%rv_notify key FILE` writes your signing key to a new 0600 FILE, for a receiver
        that checks `X-RV-Signature` (rv_jupyter.telemetry.notify.verify).
        """
        from rv_jupyter.config import config_path, load
        from rv_jupyter.workspace.envstore import EnvStore

        # Before parsing: argparse's own errors would echo the URL back.
        if "://" in line:
            raise UsageError(
                "Do not type the URL on the line (it would stay in the notebook): "
                "`%rv_notify add NAME --kind KIND` asks for it, or use --from-env VAR."
            )
        args = parse_argstring(self.rv_notify, line)
        if args.action in ("list", "test") and args.name:
            raise UsageError(f"%rv_notify {args.action} takes no channel name.")
        if args.action != "add" and (args.kind or args.from_env):
            raise UsageError("--kind and --from-env go with %rv_notify add.")
        path = config_path(args.config)
        cfg = load(path)
        store = EnvStore(path.parent / "env.json")
        if args.action == "list":
            return channel_frame(cfg, store)
        if args.action == "test":
            return send_tests(cfg, store)
        if not args.name:
            what = "a new file to write" if args.action == "key" else "a channel name"
            raise UsageError(f"%rv_notify {args.action} needs {what}.")
        if args.action == "remove":
            return remove_channel(cfg, path, store, args.name)
        if args.action == "key":
            return write_key(store, args.name)
        return add_channel(cfg, path, store, args.name, args.kind, args.from_env)


def add_channel(
    cfg: RvConfig, path: Path, store: EnvStore, name: str, kind: str | None, from_env: str | None
) -> pd.DataFrame:
    """Store a channel: the URL encrypted in the env store, name and kind in the config."""
    from rv_jupyter.config import NotifyChannel, save

    if kind is None:
        raise UsageError(f"%rv_notify add {name} needs --kind slack, ntfy or json.")
    bad_name = notify.check_channel(name, kind, "https://x")
    if bad_name:
        raise UsageError(bad_name)
    twin = next(
        (n for n in cfg.notifications.channels if n != name and n.upper() == name.upper()), None
    )
    if twin:
        # Both would keep their URL in the same RV_NOTIFY_URL_ variable.
        raise UsageError(f"A channel {twin!r} exists: remove it first, or use another name.")
    if from_env is not None:
        url = os.environ.get(from_env, "")
        if not url:
            raise UsageError(f"${from_env} is not set or empty: export the URL there first.")
    else:
        import getpass

        url = getpass.getpass(f"URL of {kind} channel {name} (hidden): ")
    url = url.strip()
    bad = notify.check_channel(name, kind, url)
    if bad:
        raise UsageError(notify.scrub(bad, url) + " Run %rv_notify add again with the full URL.")
    var = notify.url_var(name)
    store.set(var, url, secret=True)
    store.signing_secret()
    channels = dict(cfg.notifications.channels)
    channels[name] = NotifyChannel(kind=kind, url_secret=var)
    cfg.notifications.channels = channels
    save(cfg, path)
    _sync_job_list(cfg, store)
    return channel_frame(cfg, store)


def remove_channel(cfg: RvConfig, path: Path, store: EnvStore, name: str) -> pd.DataFrame:
    """Forget a channel and its stored URL."""
    from rv_jupyter.config import save

    channels = dict(cfg.notifications.channels)
    gone = channels.pop(name, None)
    if gone is None:
        known = ", ".join(sorted(channels)) or "none yet"
        raise UsageError(f"No notification channel {name!r} (channels: {known}).")
    cfg.notifications.channels = channels
    save(cfg, path)
    if store.get(gone.url_secret) is not None:
        store.remove(gone.url_secret)
    _sync_job_list(cfg, store)
    return channel_frame(cfg, store)


def channel_frame(cfg: RvConfig, store: EnvStore) -> pd.DataFrame:
    """Every configured channel, its URL redacted, and whether that URL is stored."""
    import pandas as pd

    rows = []
    for name, ch in sorted(cfg.notifications.channels.items()):
        url = store.get(ch.url_secret)
        rows.append(
            {
                "channel": name,
                "kind": ch.kind,
                "url": notify.redact_url(url) if url else "(not stored)",
                "stored": url is not None,
            }
        )
    return pd.DataFrame(rows, columns=["channel", "kind", "url", "stored"])


def send_tests(
    cfg: RvConfig, store: EnvStore, *, timeout: float = notify.TIMEOUT_S
) -> pd.DataFrame:
    """Send a test message to every channel at once; one row each: ok, or why not."""
    import pandas as pd

    if not cfg.notifications.channels:
        raise UsageError("No notification channels: add one with %rv_notify add NAME --kind ntfy.")
    secret = store.signing_secret().encode()
    event = notify.Event("test", message="Sent by %rv_notify test.")

    def one(name: str) -> dict[str, Any]:
        ch = cfg.notifications.channels[name]
        url = store.get(ch.url_secret)
        if not url:
            why = f"its URL ({ch.url_secret}) is not stored: %rv_notify add {name} --kind {ch.kind}"
            return {"channel": name, "kind": ch.kind, "url": "", "ok": False, "why": why}
        result = delivery.send(
            notify.Channel(name, ch.kind, url), event, secret=secret, timeout=timeout
        )
        return {
            "channel": name,
            "kind": ch.kind,
            "url": notify.redact_url(url),
            "ok": result.ok,
            "why": result.why if not result.ok else f"HTTP {result.status}",
        }

    names = sorted(cfg.notifications.channels)
    # At once: a dead channel costs one timeout, not one per channel after it.
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        rows = list(pool.map(one, names))
    return pd.DataFrame(rows, columns=COLUMNS)


def write_key(store: EnvStore, file: str) -> str:
    """Put the signing key in a new 0600 file (never on screen: it signs as you)."""
    from pathlib import Path

    target = Path(file).expanduser()
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{target} exists: name a new file.") from None
    except OSError as exc:
        raise UsageError(f"Cannot create {target}: {exc.strerror}.") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(store.signing_secret() + "\n")
    return f"Your signing key is in {target} (0600); give it only to your own receiver."


def _sync_job_list(cfg: RvConfig, store: EnvStore) -> None:
    # The job learns names and kinds from its env file, like the URLs: the config is
    # the truth, this plain variable its copy, rewritten on every add and remove.
    pairs = ",".join(
        f"{n}:{c.kind}" + ("" if c.url_secret == notify.url_var(n) else f":{c.url_secret}")
        for n, c in sorted(cfg.notifications.channels.items())
    )
    if pairs:
        store.set(notify.ENV_CHANNELS, pairs)
    elif store.get(notify.ENV_CHANNELS) is not None:
        store.remove(notify.ENV_CHANNELS)
