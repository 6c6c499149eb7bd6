"""The gateway's view of the cluster config: feature flags and the S3 access keys.

Like the BMD and Smap (``metasync``), the config comes from the metadata service's watch
stream and is swapped whole; requests read it without blocking. Until the first version
arrives, a reader asks the service once (``GetConfig``), so the first request after a start
is already judged by the cluster's config, never by a guess.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import grpc

from aismesh.cmn import errors, features
from aismesh.protos import metadata_pb2, metadata_pb2_grpc, types_pb2

log = logging.getLogger("gateway.config")
GET_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ClusterConf:
    version: int = 0
    features: int = 0
    # access key -> secret key; empty: S3 requests are not authenticated (the local default)
    s3_keys: dict[str, str] = field(default_factory=dict)

    @property
    def is_s3_at_root(self) -> bool:
        return bool(self.features & features.S3_API_VIA_ROOT)

    @property
    def is_streaming_cold_get(self) -> bool:
        return bool(self.features & features.STREAMING_COLD_GET)


def conf_of(msg: metadata_pb2.Config) -> ClusterConf:
    doc: dict[str, Any] = json.loads(msg.json) if msg.json else {}
    auth = doc.get("s3_auth") or {}
    keys = {auth["access_key"]: auth["secret_key"]} if auth.get("access_key") and auth.get("secret_key") else {}
    try:
        mask = features.parse(doc.get("features", "0"))
    except errors.InvalidArgument:
        mask = 0
    return ClusterConf(version=msg.version, features=mask, s3_keys=keys)


class ConfigSync:
    """Holds the latest cluster config for this process, fed by one watch thread."""

    def __init__(self, stub: metadata_pb2_grpc.MetadataStub, subscriber: str) -> None:
        self.stub = stub
        self.subscriber = subscriber
        self._conf: ClusterConf | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True, name="watch-config").start()

    def stop(self) -> None:
        self._stop.set()

    def apply(self, msg: metadata_pb2.Config) -> None:
        """Adopt ``msg`` if it is newer (also used with the answer of our own SetConfig)."""
        conf = conf_of(msg)
        with self._lock:
            if self._conf is None or conf.version > self._conf.version:
                self._conf = conf

    @property
    def current(self) -> ClusterConf:
        conf = self._conf
        if conf is not None:
            return conf
        try:
            self.apply(self.stub.GetConfig(types_pb2.Empty(), timeout=GET_TIMEOUT_S))
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e, "metadata") from None
        assert self._conf is not None
        return self._conf

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            after = self._conf.version if self._conf is not None else 0
            try:
                for msg in self.stub.WatchConfig(metadata_pb2.WatchRequest(after_version=after,
                                                                           subscriber=self.subscriber)):
                    self.apply(msg)
                    backoff = 0.1
                    if self._stop.is_set():
                        return
            except grpc.RpcError as e:
                log.info("watch config interrupted: %s", e.code())
            except Exception:
                log.exception("watch config failed")
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 2.0)
