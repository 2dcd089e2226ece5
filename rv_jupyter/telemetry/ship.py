"""Putting the in-job watcher on the cluster, the way kernels/node.py puts agent.py there:
named by the hash of its text (written once per version) in the user's 0700 state
directory, in one round trip. Here four files travel together, since watcher.py
imports rules.py, notify.py and delivery.py from beside itself."""

from __future__ import annotations

import base64
import hashlib
import io
import shlex
import tarfile
from dataclasses import dataclass
from importlib import resources
from typing import Any

FILES = ("watcher.py", "rules.py", "notify.py", "delivery.py", "node_facts.py")


def sources() -> dict[str, str]:
    """The files' text, as the cluster's Python will run them."""
    pkg = resources.files("rv_jupyter.telemetry")
    return {name: pkg.joinpath(name).read_text() for name in FILES}


def bundle(files: dict[str, str]) -> tuple[str, str]:
    """(digest, base64 tar) of `files`: the same text always gives the same bundle."""
    digest = hashlib.sha256(
        b"".join(n.encode() + b"\0" + t.encode() + b"\0" for n, t in sorted(files.items()))
    ).hexdigest()[:12]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    return digest, base64.b64encode(buf.getvalue()).decode()


def upload_command(directory: str) -> str:
    """Unpack the bundle on stdin into `directory` unless it is there already (a new
    directory appears whole or not at all: renamed into place)."""
    d = shlex.quote(directory)
    t = shlex.quote(directory + ".tmp")
    return (
        f"umask 077; mkdir -p -- {shlex.quote(directory.rsplit('/', 1)[0])} && "
        f"{{ test -s {d}/watcher.py || {{ rm -rf -- {t} && mkdir -- {t} && "
        f"base64 -d | tar -xm -C {t} && {{ mv -T -- {t} {d} || rm -rf -- {t}; }}; }}; }}"
    )


async def aupload_watcher(cluster: Any, paths: Any) -> str:
    """Put the watcher on the cluster; the path of its watcher.py. One round trip."""
    digest, data = bundle(sources())
    directory = f"{paths.state}/watch-{digest}"
    await cluster.arun(upload_command(directory), stdin=data, retry=True)
    return f"{directory}/watcher.py"


@dataclass(frozen=True)
class WatchSetup:
    """What a watched request's jobs need: the watcher (uploaded) and an env file holding
    the notification channels."""

    watcher: Any  # jobs.watch.Watcher
    env_file: str
    written: tuple[str, str] | None = None  # (env dir, stem) of the file rv wrote

    async def aqueued(self, cluster: Any, job_ids: list[str]) -> None:
        """The jobs are queued: from now on the env file rv wrote goes with them."""
        from rv_jupyter.jobs import envfiles

        if self.written and job_ids:
            mark = envfiles.submitted_command(*self.written, job_ids)
            await cluster.connection.run(mark, check=False, retry=True)


async def aprepare_watch(
    cluster: Any, request_id: str, paths: Any, env_file: str | None
) -> WatchSetup:
    """Upload the watcher and, unless the work brings its own env file (a cell's holds
    every %rv_env value, the channels too), write one with the channels alone.

    Refused before anything is submitted when no channel is configured: a watchdog
    nobody hears would only cost the job a process."""
    from rv_jupyter.errors import RequestError
    from rv_jupyter.jobs import envfiles
    from rv_jupyter.telemetry import notify
    from rv_jupyter.workspace.envstore import EnvStore

    store = EnvStore()
    if not store.get(notify.ENV_CHANNELS):
        raise RequestError(
            "--watch sends the watchdog's alerts to your notification channels, and none "
            "is configured.",
            hint="Add one with `%rv_notify add phone --kind ntfy` (or slack, json), then "
            "`%rv_notify test`.",
        )
    from rv_jupyter.jobs.watch import Watcher

    script = await aupload_watcher(cluster, paths)
    watcher = Watcher(script=script, limits=cluster.config.alerts.limits())
    if env_file:
        return WatchSetup(watcher, env_file)
    store.signing_secret()  # made once per user; it signs every message
    text = "".join(
        line + "\n" for line in store.env_file().splitlines() if line.startswith("RV_NOTIFY_")
    )
    stem = envfiles.request_stem(request_id)
    await cluster.arun(envfiles.write_command(paths.env, stem), stdin=text, retry=True)
    return WatchSetup(watcher, f"{paths.env}/{stem}.env", (paths.env, stem))
