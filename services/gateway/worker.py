"""The gateway's gunicorn worker: gthread, taking only its share of the client connections.

gunicorn's workers share one listening socket and a gthread worker's main thread does nothing
but wait for it, so whichever worker the kernel wakes first takes a burst of connections: with
16 keep-alive clients on 4 workers we saw 13 on one worker, whose GIL then capped the whole
gateway while the other three idled (about 2,000 small GETs/s on two cores with CPU to spare).
So each worker publishes how many connections it holds, and a heartbeat, in a table the
master shares with every worker it forks; a worker listens for new connections only while it
holds fewer than its fair share of those held by the live workers (heartbeat within
``LIVE_S``), plus one. A worker that froze drops out of the share within ``LIVE_S``, so the
others take new clients; the least-loaded live worker is always under its share.

And a thread that has answered a kept-alive connection waits ``LINGER_S`` for its next request
before handing it back to the main loop (measured: 4 KiB GETs 460 instead of 510-570 us of
gateway CPU each, +12% ops/s).
"""

from __future__ import annotations

import select
import threading
import time
from multiprocessing.sharedctypes import RawArray
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

# Table rows: one per worker the master forked (it keeps which are taken); a row's heartbeat is
# 0 until its worker's loop first runs, so a booting worker is not counted as live.
SLOTS = 64
LIVE_S = 2.0
_conns = RawArray("q", SLOTS)
_beats = RawArray("d", SLOTS)  # CLOCK_MONOTONIC seconds: one clock for every process of the host
# A kept-alive connection's next request, if it comes this soon, is served by the same thread:
# a round trip through gthread's main loop (poller, futures, method queue) costs about as much
# Python as a small GET's own work. Only while some threads are free, so no request queues.
LINGER_S = 0.002
SHARE_RECHECK_S = 0.01
_taken = [False] * SLOTS  # the master's own record of the rows it gave out


def claim_slot(server: Any, worker: Any) -> None:
    """gunicorn pre_fork hook (in the master, before the fork): give the new worker a free row."""
    for i in range(SLOTS):
        if not _taken[i]:
            _taken[i] = True
            _conns[i], _beats[i] = 0, 0.0
            worker.slot = i
            return
    worker.slot = None  # more workers than rows: this one takes connections like plain gthread


def release_slot(server: Any, worker: Any) -> None:
    """gunicorn child_exit hook (in the master): the worker's row is free again."""
    slot = getattr(worker, "slot", None)
    if slot is not None:
        _conns[slot], _beats[slot] = 0, 0.0
        _taken[slot] = False


def fair_limit(own: int, now: float) -> int:
    """The most connections the worker in row ``own`` may hold now: its share of those the live
    workers hold, counting the one it would take, plus one."""
    live = total = 0
    floor = now - LIVE_S
    for i in range(SLOTS):
        beat = _beats[i]
        if beat > floor or i == own:
            live += 1
            total += _conns[i]
    return -(-(total + 1) // live) + 1


class BalancedThreadWorker(ThreadWorker):
    """gthread whose ``worker_connections`` is its fair share (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._count = 0
        self._max_conns = 0
        self._busy = 0
        self._busy_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def handle(self, conn: Any) -> Any:
        with self._busy_lock:
            self._busy += 1
        try:
            keep = super().handle(conn)
            while (keep is True and self.alive and conn.initialized and not conn.is_http2
                   and self._busy < self.cfg.threads and not conn.parser.unreader.buf.getvalue()
                   and _readable(conn.sock, LINGER_S)):
                conn.data_ready = True
                keep = super().handle(conn)
            return keep
        finally:
            with self._busy_lock:
                self._busy -= 1

    @property
    def nr_conns(self) -> int:
        return self._count

    @nr_conns.setter
    def nr_conns(self, value: int) -> None:
        self._count = value
        slot = getattr(self, "slot", None)
        if slot is not None:
            _conns[slot] = value

    @property
    def worker_connections(self) -> int:
        """Read by gthread's loop before each wait: refreshes this worker's heartbeat too."""
        slot = getattr(self, "slot", None)
        if slot is None:
            return self._max_conns
        now = time.monotonic()
        _beats[slot] = now
        return min(self._max_conns, fair_limit(slot, now))

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._max_conns = value

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """Held back by its share (not by its configured maximum), a worker looks again soon:
        its threads may serve their connections without waking this loop for a long time,
        while clients wait for another worker to accept them (seen: 1 s stalls at start)."""
        if not self._accepting and self._count < self._max_conns:
            timeout = min(timeout, SHARE_RECHECK_S)
        super().wait_for_and_dispatch_events(timeout)


def _readable(sock: Any, timeout_s: float) -> bool:
    """poll, not select: select refuses descriptors past 1023, which a busy worker may hold."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(timeout_s * 1000))
    except (OSError, ValueError):
        return False
