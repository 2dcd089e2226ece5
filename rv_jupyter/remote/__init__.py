"""SSH to the cluster: the only I/O layer that talks to it (asyncssh)."""

import logging
import os

# asyncssh logs every channel at INFO; in a host application that logs at INFO
# (papermill, a Jupyter server) that is hundreds of lines per notebook. Quiet unless the
# user asked for it: RV_DEBUG=1, or a level they set on the "asyncssh" logger themselves.
_asyncssh_log = logging.getLogger("asyncssh")
if not os.environ.get("RV_DEBUG") and _asyncssh_log.level == logging.NOTSET:
    _asyncssh_log.setLevel(logging.WARNING)

from rv_jupyter.remote.batch import Completed  # noqa: E402
from rv_jupyter.remote.connection import Connection  # noqa: E402
from rv_jupyter.remote.target import SshTarget  # noqa: E402

__all__ = ["Completed", "Connection", "SshTarget"]
