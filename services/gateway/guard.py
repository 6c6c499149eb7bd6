"""Fail fast on a frozen or overloaded storage node instead of hanging the gateway.

Two pieces, one per worker process:
- ``Watchdog``: a bound on the time a data-path call may make no progress (time to first byte,
  time between pieces), not on the whole transfer, so a large object at a slow client is fine
  while a node that stopped answering is cancelled after ``stall_s``.
- ``NodeGuard``: how many calls this process has waiting on each node, and which nodes just
  stalled. A node that stalled answers 503 at once until a health probe says it is back, and
  a node that has not answered anything for ``SLOW_S`` may not hold more than ``max_inflight``
  of the process's threads (the others stay free for the other nodes), so requests to healthy
  nodes do not queue behind a stuck one. A node that keeps answering is never refused, however
  busy; a request refused answers 503, which S3 clients and the SDK retry.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aismesh.cmn import errors

# Seconds a data-path call may go without progress; tests and slow disks may change it.
STALL_S = float(os.environ.get("AISMESH_STALL_S", "10"))
# Seconds a control call (head, delete, a listing page, metadata) may take in all.
CONTROL_S = float(os.environ.get("AISMESH_CONTROL_S", "10"))
# A node's commit (fsync and rename after the last byte) is given this rate on top of STALL_S.
COMMIT_BYTES_PER_S = 100e6
# A node with calls in flight that has answered none for this long counts as not answering
# (a busy node on a slow disk can go seconds between answers: half the stall bound).
SLOW_S = STALL_S / 2


def commit_budget_s(size: int) -> float:
    """How long to wait for a node to finish storing ``size`` bytes after the last one arrived."""
    return STALL_S + max(size, 0) / COMMIT_BYTES_PER_S


@dataclass
class Progress:
    """One watched call: its deadline moves on with every piece; paused while the client is slow."""

    cancel: Callable[[], object]
    deadline: float
    paused: bool = False
    fired: bool = False

    def beat(self, extra_s: float = 0.0) -> None:
        self.deadline = time.monotonic() + STALL_S + extra_s


@dataclass
class Watchdog:
    """Cancels watched calls whose deadline passed; one checker thread per process, started lazily."""

    tick_s: float = 0.25
    _calls: dict[int, Progress] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, cancel: Callable[[], object]) -> Iterator[Progress]:
        p = Progress(cancel=cancel, deadline=time.monotonic() + STALL_S)
        key = next(self._ids)
        with self._lock:
            self._calls[key] = p
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="rpc-watchdog")
                self._thread.start()
        try:
            yield p
        finally:
            with self._lock:
                self._calls.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(self.tick_s)
            now = time.monotonic()
            with self._lock:
                late = [p for p in self._calls.values() if not p.paused and not p.fired and now > p.deadline]
                for p in late:
                    p.fired = True
            for p in late:
                with contextlib.suppress(Exception):
                    p.cancel()


class NodeGuard:
    """Per-node admission for this process: refuse fast what would only wait."""

    def __init__(self, max_inflight: int, probe: Callable[[str], bool], probe_every_s: float = 0.5) -> None:
        self.max_inflight = max_inflight
        self._probe = probe
        self._probe_every_s = probe_every_s
        self._inflight: dict[str, dict[int, float]] = {}  # node id -> {call key: start}
        self._keys = itertools.count()
        self._stalled: dict[str, float] = {}  # node id -> when it stalled
        self._answered: dict[str, float] = {}  # node id -> when a call to it last ended with an answer
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def call(self, node_id: str, addr: str) -> Iterator[None]:
        with self._lock:
            since = self._stalled.get(node_id)
            if since is not None:
                raise errors.RemoteUnavailable(
                    f"storage node t[{node_id}] is not answering (a call to it stalled "
                    f"{time.monotonic() - since:.0f} s ago); try again once it is back")
            calls = self._inflight.setdefault(node_id, {})
            now = time.monotonic()
            # Quiet: no answer since the calls in flight began (an answer long ago, before an
            # idle spell, says nothing: a burst after one was refused 503, 1 in ~6,000 PUTs).
            quiet_s = now - max(self._answered.get(node_id, 0.0), min(calls.values(), default=now))
            if len(calls) >= self.max_inflight and quiet_s > SLOW_S:
                raise errors.RemoteUnavailable(
                    f"storage node t[{node_id}] is not answering: {len(calls)} requests of this gateway "
                    f"process are waiting on it, none answered for {quiet_s:.1f} s")
            key = next(self._keys)
            calls[key] = now
        answered = True
        try:
            yield
        except (errors.RemoteUnavailable, TimeoutError, ConnectionError):
            answered = False
            raise
        finally:
            with self._lock:
                del calls[key]
                if answered:
                    self._answered[node_id] = time.monotonic()

    def stalled(self, node_id: str, addr: str) -> None:
        """Mark the node as not answering until a probe of ``addr`` succeeds."""
        with self._lock:
            if node_id in self._stalled:
                return
            self._stalled[node_id] = time.monotonic()
        threading.Thread(target=self._recover, args=(node_id, addr), daemon=True,
                         name=f"probe-{node_id}").start()

    def is_stalled(self, node_id: str) -> bool:
        return node_id in self._stalled

    def _recover(self, node_id: str, addr: str) -> None:
        while not self._probe(addr):
            time.sleep(self._probe_every_s)
        with self._lock:
            self._stalled.pop(node_id, None)
