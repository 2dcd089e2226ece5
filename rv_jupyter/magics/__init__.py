"""IPython magics: thin faces over the cluster handle and the allocator.

Each magic parses its arguments, makes one call into the core, and returns something
a notebook shows well (a DataFrame or an object with `_repr_html_`). Every RvError
becomes a one-line UsageError: what was wrong and what to do, never a traceback.

By topic: `allocate` (%rv_up, %rv_cost, %rv_stop), `run` (%%rv_run), `status`
(%rv_status, %rv_ps, %rv_logs, %rv_exec), `setup` (%rv_init), `files` (%rv_push,
%rv_pull and the env secrets), `notify` (%rv_notify), `remote` (%rv_forward, %rv_kernelspec),
`gpus` (%rv_gpus).
"""

from __future__ import annotations

from typing import Any

from rv_jupyter.magics.common import LogText

__all__ = ["LogText", "register"]


def register(ipython: Any) -> None:
    """Register the magics with an IPython shell."""
    from rv_jupyter.magics.allocate import AllocateMagics
    from rv_jupyter.magics.base import Current
    from rv_jupyter.magics.files import FileMagics
    from rv_jupyter.magics.gpus import GpuMagics
    from rv_jupyter.magics.notify import NotifyMagics
    from rv_jupyter.magics.remote import RemoteMagics
    from rv_jupyter.magics.run import RunMagics
    from rv_jupyter.magics.setup import SetupMagics
    from rv_jupyter.magics.status import StatusMagics

    current = Current()  # one per shell: %rv_up's allocation, seen by %%rv_run and the rest
    for group in (AllocateMagics, RunMagics, StatusMagics, SetupMagics, GpuMagics):
        ipython.register_magics(group(ipython, current))
    ipython.register_magics(FileMagics)
    ipython.register_magics(NotifyMagics)
    ipython.register_magics(RemoteMagics)
