"""The panel's visibility probe, fed the messages its browser half sends.

The browser half itself runs in Chromium in tests/browser.
"""

from __future__ import annotations

from rv_jupyter.widgets.visibility import VisibilityProbe


def _from_browser(probe: VisibilityProbe, content: object) -> None:
    # The path a front end's model.send() takes into the kernel.
    probe._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def test_visible_until_a_front_end_reports() -> None:
    probe = VisibilityProbe()
    assert probe.visible is True
    assert probe.views == 0


def test_visible_while_any_view_is_and_reports_each_change_once() -> None:
    changes: list[bool] = []
    probe = VisibilityProbe(on_change=changes.append)
    _from_browser(probe, {"view": "a", "visible": False})
    assert probe.visible is False
    _from_browser(probe, {"view": "b", "visible": True})
    _from_browser(probe, {"view": "a", "visible": True})
    assert probe.visible is True
    _from_browser(probe, {"view": "b", "visible": False})
    assert probe.visible is True  # view a is still on screen
    _from_browser(probe, {"view": "a", "visible": False})
    assert probe.visible is False
    assert changes == [False, True, False]


def test_all_views_closed_means_hidden() -> None:
    probe = VisibilityProbe()
    _from_browser(probe, {"view": "a", "visible": True})
    _from_browser(probe, {"view": "a", "visible": False, "gone": True})
    assert probe.views == 0
    assert probe.visible is False


def test_malformed_messages_are_ignored() -> None:
    probe = VisibilityProbe()
    for junk in ["hidden", None, {"visible": False}, {"view": 3, "visible": False}]:
        _from_browser(probe, junk)
    assert probe.visible is True
    assert probe.views == 0
