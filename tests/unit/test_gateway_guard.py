"""NodeGuard's admission (services/gateway/guard.py): refuse what would wait on a node that has
stopped answering, never a burst to a node that is answering."""

from __future__ import annotations

import contextlib
import time

import pytest

from aismesh.cmn import errors
from services.gateway.guard import SLOW_S, NodeGuard


def _guard() -> NodeGuard:
    return NodeGuard(max_inflight=4, probe=lambda addr: True)


def test_a_burst_after_an_idle_spell_is_admitted() -> None:
    g = _guard()
    with g.call("t1", "a"):
        pass
    g._answered["t1"] = time.monotonic() - SLOW_S * 4  # its last answer: before a long idle spell
    with contextlib.ExitStack() as held:
        for _ in range(4):
            held.enter_context(g.call("t1", "a"))  # the burst: all in flight at once
        with g.call("t1", "a"):  # the fifth is not refused: the node had no time to answer yet
            pass


def _four_waiting_long(g: NodeGuard, held: contextlib.ExitStack) -> None:
    """Four calls to t1 in flight that have waited past SLOW_S."""
    for _ in range(4):
        held.enter_context(g.call("t1", "a"))
    for key in g._inflight["t1"]:
        g._inflight["t1"][key] -= SLOW_S * 2


def test_calls_waiting_long_on_a_silent_node_refuse_more() -> None:
    g = _guard()
    with contextlib.ExitStack() as held:
        _four_waiting_long(g, held)  # and nothing came back
        with pytest.raises(errors.RemoteUnavailable, match=r"t\[t1\] is not answering"), g.call("t1", "a"):
            pass
        with g.call("t2", "b"):  # another node is not held back by it
            pass


def test_a_node_that_answers_is_never_refused_however_busy() -> None:
    g = _guard()
    with contextlib.ExitStack() as held:
        _four_waiting_long(g, held)
        g._answered["t1"] = time.monotonic()  # another thread's call to it came back just now
        with g.call("t1", "a"):  # so the node is busy, not silent
            pass
