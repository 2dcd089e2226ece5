"""SSH to the cluster: the only I/O layer that talks to it (asyncssh)."""

from rv_jupyter.remote.batch import Completed
from rv_jupyter.remote.connection import Connection
from rv_jupyter.remote.target import SshTarget

__all__ = ["Completed", "Connection", "SshTarget"]
