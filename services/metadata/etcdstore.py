"""The one place that talks to etcd: JSON documents under compare-and-swap, leases, watches.

Uses ``pyetcd`` (etcd-sdk-python) and works around its known traps: a short ``time_retry`` so
a restarted etcd is used again at once, one retry on a connection error, watches that are
re-created from the last revision seen, and lease keepalive done by the caller.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import pyetcd
from pyetcd import exceptions as etcd_errors

from aismesh.cmn import errors

log = logging.getLogger("metadata.etcd")
Doc = dict[str, Any]
T = TypeVar("T")
_TRANSIENT = (etcd_errors.ConnectionFailedError, etcd_errors.NoServerAvailableError,
              etcd_errors.ConnectionTimeoutError, ValueError)


def _endpoint(addr: str) -> pyetcd.Endpoint:
    host, _, port = addr.rpartition(":")
    return pyetcd.Endpoint(host or "127.0.0.1", int(port), secure=False, time_retry=0.5)


class EtcdStore:
    """JSON documents in etcd, each changed only by a transaction on its mod revision."""

    def __init__(self, endpoints: list[str], timeout: float = 3.0) -> None:
        self.endpoints = endpoints
        self.client = pyetcd.MultiEndpointEtcd3Client(
            endpoints=[_endpoint(a) for a in endpoints], failover=True, timeout=timeout,
        )

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        for attempt in range(3):
            try:
                return fn(*args, **kwargs)
            except _TRANSIENT as e:
                if attempt == 2:
                    raise errors.RemoteUnavailable(f"etcd is unavailable at {', '.join(self.endpoints)}: {e}") from None
                time.sleep(0.3 * (attempt + 1))
        raise AssertionError("unreachable")

    def wait_ready(self, timeout: float) -> None:
        """Block until etcd answers (it may start after us); raise RemoteUnavailable at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.client.get("/ais/__ping__")
                return
            except _TRANSIENT as e:
                if time.monotonic() > deadline:
                    raise errors.RemoteUnavailable(f"etcd did not answer within {timeout:.0f} s: {e}") from None
                time.sleep(0.2)

    # --- documents -------------------------------------------------------------------------

    def read(self, key: str) -> tuple[Doc | None, int]:
        """The document and its mod revision, or (None, 0)."""
        value, meta = self._call(self.client.get, key)
        if value is None:
            return None, 0
        return json.loads(value), int(meta.mod_revision)

    def create_if_absent(self, key: str, doc: Doc) -> bool:
        t = self.client.transactions
        ok, _ = self._call(self.client.transaction, compare=[t.version(key) == 0],
                           success=[t.put(key, _encode(doc))], failure=[])
        return bool(ok)

    def update(self, key: str, change: Callable[[Doc], Doc], retries: int = 50) -> Doc:
        """Apply ``change`` to the current document in one CAS transaction, retrying on conflict.

        ``change`` raises the mesh's errors for refused changes; returning the same object means
        nothing to write.
        """
        t = self.client.transactions
        for attempt in range(retries):
            doc, rev = self.read(key)
            if doc is None:
                raise errors.Internal(f"etcd key {key} is missing: the metadata service did not initialise it")
            new = change(doc)
            if new is doc:
                return doc
            ok, _ = self._call(self.client.transaction, compare=[t.mod(key) == rev],
                               success=[t.put(key, _encode(new))], failure=[])
            if ok:
                return new
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise errors.Conflict(f"too many concurrent changes to {key}; try again")

    # --- leases ----------------------------------------------------------------------------

    def grant_lease(self, ttl: int) -> int:
        return int(self._call(self.client.lease, ttl).id)

    def refresh_lease(self, lease_id: int) -> int:
        """Keep the lease alive once; returns its TTL, 0 when it has expired or never existed."""
        responses = self._call(lambda: list(self.client.refresh_lease(lease_id)))
        return int(responses[0].TTL) if responses else 0

    def lease_of(self, key: str) -> int:
        """The lease ``key`` is bound to (0: none, or no such key)."""
        value, meta = self._call(self.client.get, key)
        return int(getattr(meta, "lease_id", 0) or 0) if value is not None else 0

    def revoke_lease(self, lease_id: int) -> None:
        """Revoke a lease now (its keys go with it); one that already lapsed is fine."""
        try:
            self._call(self.client.revoke_lease, lease_id)
        except grpc.RpcError as e:  # the lease lapsed meanwhile: etcd answers NOT_FOUND
            if e.code() != grpc.StatusCode.NOT_FOUND:
                raise

    def put(self, key: str, value: str, lease_id: int = 0) -> None:
        self._call(self.client.put, key, value, lease=lease_id or None)

    def delete(self, key: str) -> None:
        self._call(self.client.delete, key)

    def acquire(self, key: str, value: str, lease_id: int) -> bool:
        """Put ``key`` bound to the lease only if nobody holds it (leader election)."""
        t = self.client.transactions
        ok, _ = self._call(self.client.transaction, compare=[t.version(key) == 0],
                           success=[t.put(key, value, lease=lease_id)], failure=[])
        return bool(ok)

    def exists(self, key: str) -> bool:
        value, _ = self._call(self.client.get, key)
        return value is not None

    def keys_with_prefix(self, prefix: str) -> list[str]:
        return [m.key.decode() for _, m in self._call(lambda: list(self.client.get_prefix(prefix)))]

    def close(self) -> None:
        self.client.close()


def _encode(doc: Doc) -> str:
    return json.dumps(doc, indent=2, sort_keys=True)


class Watcher:
    """A watch on a key or prefix that survives etcd restarts: re-created from the last revision."""

    def __init__(self, store: EtcdStore, key: str, on_event: Callable[[Any], None],
                 start_revision: int, prefix: bool = False) -> None:
        self.store, self.key, self.on_event, self.prefix = store, key, on_event, prefix
        self.next_revision = start_revision
        self._stop = threading.Event()
        self._watch_id: Any = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._keep, daemon=True, name=f"watch{key}")
        self._broken = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._broken.set()
        with self._lock:
            if self._watch_id is not None:
                try:
                    self.store.client.cancel_watch(self._watch_id)
                except Exception:  # stopping: the watch may already be gone with etcd
                    log.debug("cancel_watch failed", exc_info=True)

    def _callback(self, resp: Any) -> None:
        if isinstance(resp, Exception):
            self._broken.set()
            return
        for ev in resp.events:
            self.next_revision = max(self.next_revision, int(ev.mod_revision) + 1)
            try:
                self.on_event(ev)
            except Exception:
                log.exception("watch handler failed for %s", self.key)

    def _keep(self) -> None:
        while not self._stop.is_set():
            self._broken.clear()
            try:
                add = (self.store.client.add_watch_prefix_callback if self.prefix
                       else self.store.client.add_watch_callback)
                with self._lock:
                    self._watch_id = add(self.key, self._callback, start_revision=self.next_revision)
            except Exception as e:
                log.info("cannot watch %s yet: %s", self.key, e)
                self._stop.wait(0.5)
                continue
            self._broken.wait()
            if not self._stop.is_set():
                log.info("watch on %s broke; resuming from revision %d", self.key, self.next_revision)
                self._stop.wait(0.3)
