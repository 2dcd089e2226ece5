"""`%load_ext rv`: a short name for `%load_ext rv_jupyter`."""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """Called by IPython on `%load_ext rv`; delegates to rv_jupyter."""
    import rv_jupyter

    rv_jupyter.load_ipython_extension(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Called by IPython on `%unload_ext rv`."""
    import rv_jupyter

    rv_jupyter.unload_ipython_extension(ipython)
