"""Which host keys we trust: known_hosts files read and matched as OpenSSH does.

Pure apart from reading the files. asyncssh's own matching differs from OpenSSH in
two ways that would weaken the check: a key listed for a plain host is accepted for
any port of it (OpenSSH requires `[host]:port` for a port other than 22), and one
malformed line fails the whole file with a ValueError. Here a line that cannot be read
is skipped (as OpenSSH does) and remembered, so an error can name it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh.public_key import get_default_certificate_algs, get_default_public_key_algs


def entry_name(host: str, port: int | None) -> str:
    """How known_hosts names `host` on `port`: `[host]:port`, or the host for port 22."""
    return f"[{host}]:{port}" if port and port != 22 else host


@dataclass
class KnownHosts:
    """The entries of some known_hosts files, matched strictly by host and port."""

    files: tuple[Path, ...] = ()
    skipped: list[str] = field(default_factory=list)  # "file line N: why"
    _known: asyncssh.SSHKnownHosts = field(default_factory=asyncssh.SSHKnownHosts)

    @classmethod
    def read(cls, files: Sequence[Path], extra: str = "", extra_name: str = "") -> KnownHosts:
        """Load `files` (missing ones trust nothing) plus `extra` known_hosts text."""
        out = cls(tuple(files))
        for path in files:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                continue
            except OSError as exc:
                out.skipped.append(f"{path}: unreadable ({exc.strerror})")
                continue
            out._load(text, str(path))
        if extra:
            out._load(extra, extra_name or "<cluster>")
        return out

    def _load(self, text: str, where: str) -> None:
        for n, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            try:
                self._known.load(stripped)
            except (ValueError, asyncssh.Error) as exc:
                self.skipped.append(f"{where} line {n}: {exc}")

    def __call__(self, host: str, addr: str, port: int | None) -> tuple[list[Any], ...]:
        """asyncssh's known_hosts callable: (host keys, CA keys, revoked keys)."""
        keys: list[Any] = []
        cas: list[Any] = []
        revoked: list[Any] = []
        for name in dict.fromkeys(n for n in (host, addr) if n):
            # Matching the bracketed name with no port keeps asyncssh from falling
            # back to the plain host when nothing is listed for the port.
            k, c, r, *_ = self._known.match(entry_name(name, port), "", None)
            keys += k
            cas += c
            revoked += r
        return keys, cas, revoked

    def has_entry(self, host: str, port: int | None) -> bool:
        """Whether a host key is listed for `host` on `port` (a CA alone is no key)."""
        return bool(self(host, "", port)[0])

    def only_without_port(self, host: str, port: int | None) -> bool:
        """A key is listed for plain `host` but none for `[host]:port`."""
        if not port or port == 22 or self.has_entry(host, port):
            return False
        return self.has_entry(host, None)

    def host_key_algs(self, host: str, port: int | None) -> list[str]:
        """What to offer the server: its trusted key types first, then every default.

        asyncssh offers only the trusted types when some are known, and only
        certificate types when a `@cert-authority` line is all that matches, which a
        server without a certificate answers by closing the connection. Offering the
        rest too (as OpenSSH does) turns that into an untrusted key we can report.
        """
        keys, cas, _ = self(host, "", port)
        algs: list[bytes] = list(get_default_certificate_algs()) if cas else []
        for key in keys:
            algs += key.sig_algorithms
        algs += get_default_public_key_algs()
        return [a.decode("ascii") for a in dict.fromkeys(algs)]

    def notes(self) -> str:
        """The skipped lines, as a sentence to append to an error (or "")."""
        if not self.skipped:
            return ""
        more = f" (and {len(self.skipped) - 1} more)" if len(self.skipped) > 1 else ""
        return f" Ignored as unreadable: {self.skipped[0]}{more}."
