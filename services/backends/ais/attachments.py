"""Which remote cluster a namespace names: the attachments the metadata service keeps.

A bucket ``ais://@remais/b`` (or ``s3://@remais/data``) names its remote by alias or by UUID.
The adapter reads the attachment records through the metadata service and re-reads them at
most every REFRESH_S, and at once on a miss, so attaching or detaching at run time takes effect
without a restart. One attachment may list several URLs (comma-separated): the first that
answers is used until it stops answering.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import grpc

from aismesh.cmn import errors
from aismesh.cmn.rpc import ChannelPool, FailoverStub
from aismesh.protos import metadata_pb2, metadata_pb2_grpc, types_pb2

REFRESH_S = 1.0
META_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Attachment:
    alias: str
    uuid: str
    urls: tuple[str, ...]

    @property
    def label(self) -> str:
        """How errors name it: ``remote cluster "remais" (uuid Xy12)``."""
        return f'remote cluster "{self.alias}"' + (f" (uuid {self.uuid})" if self.uuid else "")


def split_urls(url: str) -> tuple[str, ...]:
    """``http://a:1,http://b:2`` -> both, without trailing slashes."""
    return tuple(u.strip().rstrip("/") for u in url.split(",") if u.strip())


def from_record(r: metadata_pb2.RemoteCluster) -> Attachment:
    return Attachment(alias=r.alias, uuid=r.uuid, urls=split_urls(r.url))


def find(attached: list[Attachment], key: str) -> Attachment | None:
    """The attachment whose alias, or else whose UUID, is ``key``."""
    for a in attached:
        if a.alias == key:
            return a
    for a in attached:
        if a.uuid and a.uuid == key:
            return a
    return None


class Attachments:
    """The attachments as last read, re-read when stale or on a miss."""

    def __init__(self, read: Callable[[], list[Attachment]]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._list: list[Attachment] = []
        self._at = 0.0

    @classmethod
    def from_metadata(cls, addrs: list[str]) -> Attachments:
        channels = ChannelPool()
        stub = cast(Any, FailoverStub([metadata_pb2_grpc.MetadataStub(channels.get(a)) for a in addrs]))

        def read() -> list[Attachment]:
            try:
                resp = stub.ListRemotes(types_pb2.Empty(), timeout=META_TIMEOUT_S)
            except grpc.RpcError as e:
                raise errors.from_rpc_error(e, "metadata") from None
            return [from_record(r) for r in resp.remotes]

        return cls(read)

    def all(self, fresh: bool = False) -> list[Attachment]:
        with self._lock:
            if fresh or time.monotonic() - self._at > REFRESH_S:
                self._list = self._read()
                self._at = time.monotonic()
            return list(self._list)

    def resolve(self, key: str) -> Attachment:
        """The attachment ``key`` (alias or UUID) names; NotFound when none does, even after a re-read."""
        found = find(self.all(), key)
        if found is None:
            found = find(self.all(fresh=True), key)
        if found is None:
            raise errors.NotFound(f'remote cluster "{key}" is not attached (attach it with '
                                  f'"ais cluster remote-attach {key}=URL")', reason="remote-cluster")
        if not found.urls:
            raise errors.InvalidArgument(f"{found.label} has no URL")
        return found
