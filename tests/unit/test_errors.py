"""The error tree drawn in rv_jupyter/errors.py is the class hierarchy, exactly."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import rv_jupyter
from rv_jupyter import errors
from rv_jupyter.errors import RvError

# One drawn line: the box-drawing prefix, then the class name, then its gloss.
LINE = re.compile(r"^    (?P<branch>(?:[│ ]   )*(?:[├└]── )?)(?P<name>[A-Z]\w*)\s")


def drawn(doc: str) -> list[tuple[int, str]]:
    """(depth, class name) for each line of the tree in `doc`, top to bottom."""
    rows = []
    for line in doc.splitlines():
        m = LINE.match(line)
        if m and (m["branch"] or m["name"] == "RvError"):
            rows.append((len(m["branch"]) // 4, m["name"]))
    return rows


def tree_of(rows: list[tuple[int, str]]) -> dict[str, list[str]]:
    """Each drawn class and the classes drawn under it, in order."""
    children: dict[str, list[str]] = {}
    path: list[str] = []
    for depth, name in rows:
        assert depth <= len(path), f"{name} is drawn deeper than under a parent"
        del path[depth:]
        if path:
            children[path[-1]].append(name)
        children[name] = []
        path.append(name)
    return children


def real_tree() -> dict[str, list[str]]:
    """Each RvError subclass and its direct subclasses, in the order they were defined."""
    # Every module imported, so an RvError defined anywhere in the package counts.
    for mod in pkgutil.walk_packages(rv_jupyter.__path__, "rv_jupyter."):
        importlib.import_module(mod.name)
    children: dict[str, list[str]] = {}

    def walk(cls: type[RvError]) -> None:
        children[cls.__name__] = [c.__name__ for c in cls.__subclasses__()]
        for sub in cls.__subclasses__():
            walk(sub)

    walk(RvError)
    return children


def test_the_drawing_is_the_class_hierarchy() -> None:
    rows = drawn(errors.__doc__ or "")
    assert rows[0] == (0, "RvError")
    assert tree_of(rows) == real_tree()


def test_every_error_class_has_a_one_sentence_docstring() -> None:
    for name in real_tree():
        doc = (getattr(errors, name).__doc__ or "").strip()
        assert doc and "\n" not in doc and doc.endswith("."), name


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ("    RvError  x\n    ├── SshError  y\n    │   └── PortClosed  z\n", None),
        ("    RvError  x\n    └── SshError  y\n        └── PortClosed  z\n", None),
        ("    RvError  x\n    └── SshError  y\n", "PortClosed missing"),
        ("    RvError  x\n    ├── SshError  y\n    └── PortClosed  z\n", "PortClosed misplaced"),
    ],
)
def test_the_parser_sees_depth_and_parents(doc: str, problem: str | None) -> None:
    expected = {"RvError": ["SshError"], "SshError": ["PortClosed"], "PortClosed": []}
    assert (tree_of(drawn(doc)) == expected) is (problem is None)
