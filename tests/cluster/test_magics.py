"""`%load_ext rv` in a real IPython shell, reading the mini-Rivanna."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.testing.globalipapp import start_ipython

from rv_jupyter.state import ClusterState


@pytest.fixture(scope="module")
def a_shell():  # type: ignore[no-untyped-def]
    """A real IPython InteractiveShell."""
    return start_ipython()


@pytest.mark.parametrize("name", ["rv", "rv_jupyter"])
def test_load_ext_registers_rv_status(a_shell, name: str, a_config_path: Path) -> None:  # type: ignore[no-untyped-def]
    a_shell.run_line_magic("load_ext", name)
    assert "rv_status" in a_shell.magics_manager.magics["line"]
    state = a_shell.run_line_magic("rv_status", f"--config {a_config_path}")
    assert isinstance(state, ClusterState)
    assert any(g.partition == "gpu-mig" for g in state.gpus)


def test_bad_config_is_one_line_usage_error(a_shell, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a_shell.run_line_magic("load_ext", "rv")
    with pytest.raises(UsageError, match="No rv config"):
        a_shell.run_line_magic("rv_status", f"--config {tmp_path / 'missing.toml'}")
