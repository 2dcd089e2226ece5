"""ipywidgets faces: the status panel (more in later issues)."""

from rv_jupyter.widgets.panel import Panel

__all__ = ["Panel"]
