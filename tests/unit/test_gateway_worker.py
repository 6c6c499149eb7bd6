"""The gateway worker's fair share of client connections (services/gateway/worker.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.gateway import worker


@pytest.fixture(autouse=True)
def empty_table() -> Iterator[None]:
    for i in range(worker.SLOTS):
        worker._conns[i], worker._beats[i] = 0, 0.0
    yield
    for i in range(worker.SLOTS):
        worker._conns[i], worker._beats[i] = 0, 0.0


def _rows(now: float, *conns: int) -> None:
    for i, n in enumerate(conns):
        worker._conns[i], worker._beats[i] = n, now


def test_a_worker_takes_its_share_and_one_more() -> None:
    _rows(100.0, 0, 0, 0, 0)
    assert worker.fair_limit(0, 100.0) == 2  # the first of 16 clients: it may take a second
    _rows(100.0, 5, 4, 4, 3)
    assert worker.fair_limit(0, 100.0) == 6  # 17 / 4 -> 5, plus one: 5 held, it may take one
    assert worker.fair_limit(3, 100.0) > 3  # the one with 3 may take another


def test_the_least_loaded_live_worker_can_always_accept() -> None:
    for conns in [(13, 1, 1, 1), (0, 0, 0, 0), (100, 90, 3, 0), (7, 7, 7, 7)]:
        _rows(50.0, *conns)
        least = min(range(len(conns)), key=lambda i: conns[i])
        assert conns[least] < worker.fair_limit(least, 50.0)


def test_a_frozen_worker_leaves_the_share() -> None:
    _rows(100.0, 4, 4, 4)
    worker._conns[3], worker._beats[3] = 0, 100.0 - worker.LIVE_S - 1  # no heartbeat for a while
    # Three live workers share 12 (+1): a frozen fourth would have held their limits at 5.
    assert worker.fair_limit(0, 100.0) == 6


def test_a_single_worker_takes_everyone() -> None:
    _rows(10.0, 500)
    assert worker.fair_limit(0, 10.0) > 500
