"""Whether a widget is on someone's screen, as the browser sees it.

ipywidgets tells the kernel nothing about where (or whether) its views are shown, so the
panel carries this small probe. Each view of it watches its own element
(IntersectionObserver: scrolled away, collapsed output, closed notebook tab) and the page
(``visibilitychange``: another browser tab, minimised window) and reports its view's state
to the kernel. The probe is visible while any of its views is; until a front end has
reported at all (a kernel run by nbval or papermill, a front end without widget support)
it counts as visible, so those never starve of data.

anywidget carries the front-end half as an ES module string: no separate JS build or
nbextension to install, and it works in JupyterLab, Notebook 7 and VS Code alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

_ESM = """
let counter = 0;
function render({ model, el }) {
  const view = `${Date.now().toString(36)}-${counter++}`;
  el.style.minHeight = "1px";
  el.dataset.rvVisibilityProbe = view;
  let onScreen = false;
  let last = null;
  const report = () => {
    const visible = onScreen && document.visibilityState === "visible";
    if (visible === last) return;
    last = visible;
    model.send({ view, visible });
  };
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) onScreen = e.isIntersecting;
    report();
  });
  observer.observe(el);
  document.addEventListener("visibilitychange", report);
  return () => {
    observer.disconnect();
    document.removeEventListener("visibilitychange", report);
    model.send({ view, visible: false, gone: true });
  };
}
export default { render };
"""


class VisibilityProbe(anywidget.AnyWidget):
    """Reports ``visible`` for the views it is displayed in; see the module docstring."""

    _esm = traitlets.Unicode(_ESM).tag(sync=True)
    visible = traitlets.Bool(True, read_only=True)

    def __init__(self, on_change: Callable[[bool], None] | None = None, **kwargs: Any) -> None:
        super().__init__(layout={"height": "1px"}, **kwargs)
        self._views: dict[str, bool] = {}
        self._on_change = on_change
        self.on_msg(self._from_view)

    @property
    def views(self) -> int:
        """How many views have reported and are still open."""
        return len(self._views)

    def _from_view(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("view"), str):
            return  # not ours: ignore rather than trust a malformed message
        view = content["view"]
        if content.get("gone"):
            self._views.pop(view, None)
        else:
            self._views[view] = bool(content.get("visible"))
        # Every reporting view closed: nothing on screen. No view ever reported: see above.
        now = any(self._views.values()) if self._views or content.get("gone") else True
        if now != self.visible:
            self.set_trait("visible", now)
            if self._on_change is not None:
                self._on_change(now)
