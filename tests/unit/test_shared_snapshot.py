"""The file through which one user's processes on one machine share cluster reads."""

from __future__ import annotations

import os
from pathlib import Path

from rv_jupyter.cluster.shared_snapshot import SharedSnapshot


def test_a_record_stored_by_one_is_loaded_once_by_another(tmp_path: Path) -> None:
    a, b = SharedSnapshot(tmp_path / "rv", "k"), SharedSnapshot(tmp_path / "rv", "k")
    assert b.load_if_changed() is None
    a.store({"v": 1, "n": 1})
    assert b.load_if_changed() == {"v": 1, "n": 1}
    assert b.load_if_changed() is None  # unchanged since the last look
    a.store({"v": 1, "n": 2})
    assert b.load_if_changed() == {"v": 1, "n": 2}


def test_files_are_private_to_the_user(tmp_path: Path) -> None:
    a = SharedSnapshot(tmp_path / "rv", "k")
    a.store({"v": 1})
    assert (tmp_path / "rv").stat().st_mode & 0o777 == 0o700
    assert a.path.stat().st_mode & 0o777 == 0o600


def test_a_directory_others_can_open_is_not_used(tmp_path: Path) -> None:
    shared = tmp_path / "rv"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    a = SharedSnapshot(shared, "k")
    a.store({"v": 1})
    assert not a.path.exists()
    assert a.try_lock()  # nothing to coordinate through: the caller reads alone


def test_one_read_at_a_time_across_holders(tmp_path: Path) -> None:
    a, b = SharedSnapshot(tmp_path, "k"), SharedSnapshot(tmp_path, "k")
    os.chmod(tmp_path, 0o700)
    assert a.try_lock()
    assert not b.try_lock()
    a.unlock()
    assert b.try_lock()
    b.unlock()


def test_targets_do_not_share(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o700)
    a, b = SharedSnapshot(tmp_path, "one"), SharedSnapshot(tmp_path, "two")
    a.store({"v": 1})
    assert b.load_if_changed() is None
    assert a.try_lock() and b.try_lock()


def test_a_poke_is_seen_once_by_each_other_holder(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o700)
    a, b = SharedSnapshot(tmp_path, "k"), SharedSnapshot(tmp_path, "k")
    assert b.poked_at() is None
    a.poke()
    assert b.poked_at() is not None
    assert b.poked_at() is None


def test_an_unreadable_record_is_ignored(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o700)
    a = SharedSnapshot(tmp_path, "k")
    a.path.write_text("{not json")
    assert a.load_if_changed() is None
