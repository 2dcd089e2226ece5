"""How asyncssh and the socket layer fail: what both connection.py and nodes.py classify.

Its own module so neither of them reaches into the other for it.
"""

from __future__ import annotations

import asyncssh

# What "the connection went away" looks like from asyncssh and the socket layer.
DROPPED = (
    asyncssh.ConnectionLost,
    asyncssh.DisconnectError,
    BrokenPipeError,
    ConnectionResetError,
    EOFError,
)

# What a byte stream over SSH (or a local socket) raises when it ends under a reader or
# writer: the peer went away, a channel closed, the connection dropped.
STREAM_ENDED = (OSError, EOFError, asyncssh.Error)
