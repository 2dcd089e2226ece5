"""First-time set-up (`%rv_init`): config, host key trust, default account, scratch caches.

Nothing is trusted or overwritten silently. A host key is added to known_hosts only
when the user passes the exact fingerprint they were shown (and the server still shows
it). `~/.bashrc` on the cluster is edited only between rv's marker lines, with a
backup of the original kept once. Unknown keys in an existing config survive.
"""

from __future__ import annotations

import html
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from rv_jupyter import config as rv_config
from rv_jupyter.errors import HostKeyUnknown, RequestError
from rv_jupyter.facts import COMPUTING_ID, LOGIN_HOST, RemotePaths
from rv_jupyter.remote import Connection
from rv_jupyter.remote.dial import record_host_key
from rv_jupyter.slurm import parse_allocations

BEGIN = "# >>> rv-jupyter caches >>>"
END = "# <<< rv-jupyter caches <<<"


@dataclass
class InitReport:
    """What `%rv_init` did, step by step."""

    config: str
    steps: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join([f"rv config: {self.config}", *(f"✓ {s}" for s in self.steps)])

    def _repr_html_(self) -> str:
        return "<br>".join(html.escape(line) for line in str(self).splitlines())


def bashrc_script(paths: RemotePaths) -> str:
    """A POSIX sh script that puts the cache exports between rv's markers in ~/.bashrc."""
    exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(paths.caches.items()))
    dirs = " ".join(shlex.quote(v) for v in sorted(paths.caches.values()))
    return f"""set -e
rc="$HOME/.bashrc"
touch "$rc"
[ -e "$rc.rv-backup" ] || cp -p "$rc" "$rc.rv-backup"
tmp=$(mktemp "$HOME/.bashrc.rv.XXXXXX")
sed '/^{BEGIN}$/,/^{END}$/d' "$rc" > "$tmp"
cat >> "$tmp" <<'RV_BLOCK'
{BEGIN}
# Caches on scratch: home is small. Written by rv-jupyter; edit outside these lines.
{exports}
{END}
RV_BLOCK
cat "$tmp" > "$rc"
rm -f "$tmp"
mkdir -p {dirs}
"""


async def initialise(
    path: Path,
    *,
    user: str,
    host: str = LOGIN_HOST,
    port: int | None = None,
    identity_file: str | None = None,
    known_hosts: str | None = None,
    trust: str | None = None,
    bashrc: bool = True,
) -> InitReport:
    """Write the config for `user`@`host`, check the connection, discover the account."""
    if host == LOGIN_HOST and not COMPUTING_ID.match(user):
        raise RequestError(
            f"{user!r} does not look like a UVA computing id.",
            hint="It is the short id you log in with, e.g. abs6bd.",
        )
    cfg = rv_config.load(path) if path.exists() else rv_config.RvConfig()
    c = cfg.connection
    c.host, c.user = host, user
    if port is not None:
        c.port = port
    if identity_file is not None:
        c.identity_file = identity_file
    if known_hosts is not None:
        c.known_hosts = known_hosts
    from rv_jupyter.cluster.handle import ssh_target

    target = ssh_target(cfg)
    report = InitReport(str(path))
    conn = Connection(target)
    try:
        try:
            await conn.run("true")
        except HostKeyUnknown as err:
            shown = err.context.get("fingerprint", "?")
            if trust is None:
                raise RequestError(
                    str(err.message),
                    hint=f"If {shown} is the cluster's published fingerprint, run %rv_init "
                    f"again with --trust {shown}",
                ) from None
            # Reached as the connection reaches it: ssh_config alias, port, ProxyJump.
            where = await record_host_key(target, trust)
            report.steps.append(f"trusted host key {trust} (added to {where})")
            await conn.run("true")
        report.steps.append(f"connected as {user}@{host}")
        got = await conn.run("allocations", check=False, retry=True)
        accounts = parse_allocations(got.stdout) if got.exit_status == 0 else []
        if accounts and not cfg.defaults.account:
            cfg.defaults.account = accounts[0].account
            report.steps.append(f"default account {accounts[0].account} (from `allocations`)")
        if bashrc:
            await conn.run("sh -s", stdin=bashrc_script(RemotePaths(user)), retry=False)
            report.steps.append("caches redirected to scratch in ~/.bashrc (between markers)")
    finally:
        await conn.close()
    rv_config.save(cfg, path)
    report.steps.append("config saved")
    return report
