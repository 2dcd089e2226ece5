"""rv-jupyter: GPUs on UVA's Rivanna/Afton Slurm cluster from a Jupyter notebook.

Importing this package is cheap: heavy modules (asyncssh, pandas) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rv_jupyter.cluster.handle import Cluster


def connect(config_path: str | None = None) -> Cluster:
    """Open (or reuse) the connection to the configured cluster; returns its handle."""
    from rv_jupyter.cluster.handle import Cluster

    return Cluster.from_config(config_path)


def panel(config_path: str | None = None) -> Any:
    """The live status panel (ipywidgets) of the configured cluster."""
    from rv_jupyter.widgets import Panel

    return Panel(connect(config_path))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The Jupyter server extension (enabled on install by jupyter_server_config.d)."""
    return [{"module": "rv_jupyter.server"}]


def load_ipython_extension(ipython: Any) -> None:
    """Called by IPython on `%load_ext rv_jupyter`; registers the magics."""
    from rv_jupyter.magics import register

    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Called by IPython on `%unload_ext rv_jupyter`."""
