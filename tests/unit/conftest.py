"""Fixtures shared by the unit tests."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.storage.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An opened Store of node t1 on two mountpaths under tmp_path."""
    s = Store("t1", [str(tmp_path / "mp1"), str(tmp_path / "mp2")])
    s.open()
    yield s
    s.close()
