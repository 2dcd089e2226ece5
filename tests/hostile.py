"""Shell payloads for tests of quoting: each names `{canary}`, a file that must never appear."""

SHELL_PAYLOADS = [
    "$(touch {canary})",
    "`touch {canary}`",
    "x; touch {canary}",
    "'; touch {canary}; '",
    '"; touch {canary}; "',
    "a\ntouch {canary}",
    "${{IFS}}touch${{IFS}}{canary}",
]
