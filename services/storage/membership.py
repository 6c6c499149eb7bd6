"""This node's membership: register with the metadata service, heartbeat, follow the BMD.

The metadata service may be down or restarting: every loop retries with a capped backoff and
the node keeps serving meanwhile. A NOT_FOUND heartbeat (lease lapsed, or the node was removed
from the Smap) means register again, and so does a metadata service that was unreachable and
answers again. With several metadata addresses (replicas) the node keeps one long-lived channel
to each and moves to the next when the current one is unavailable.
"""

from __future__ import annotations

import json
import logging
import threading

import grpc

from aismesh.cmn import errors
from aismesh.cmn.log import event
from aismesh.cmn.names import Bck
from aismesh.protos import metadata_pb2, metadata_pb2_grpc
from services.storage import versions
from services.storage.store import Store

log = logging.getLogger("storage.membership")


def validated_reads(bmd: metadata_pb2.BMD) -> frozenset[tuple[str, int]]:
    """The buckets whose props ask to verify an object's checksum on every read."""
    out = set()
    for b in bmd.buckets:
        try:
            props = json.loads(b.props_json) if b.props_json else {}
        except ValueError:
            log.warning("unreadable props of bucket %s in BMD v%d", b.bck.name, bmd.version)
            continue
        if props.get("checksum", {}).get("validate_warm_get"):
            out.add((Bck.from_proto(b.bck).uname, b.bid))
    return frozenset(out)


class Membership:
    def __init__(self, stubs: list[metadata_pb2_grpc.MetadataStub], node: metadata_pb2.Node, store: Store) -> None:
        if not stubs:
            raise ValueError("no metadata service address")
        self.stubs = stubs
        self._current = 0
        self.node = node
        self.store = store
        self.stop = threading.Event()
        self.registered = threading.Event()
        self.smap_version = 0

    @property
    def stub(self) -> metadata_pb2_grpc.MetadataStub:
        return self.stubs[self._current % len(self.stubs)]

    def _next_replica(self) -> None:
        self._current += 1

    def start(self) -> None:
        threading.Thread(target=self._heartbeat_loop, daemon=True, name="heartbeat").start()
        threading.Thread(target=self._bmd_loop, daemon=True, name="watch-bmd").start()

    def _register(self) -> tuple[int, int]:
        resp = self.stub.RegisterNode(metadata_pb2.RegisterNodeRequest(node=self.node), timeout=5)
        self.smap_version = resp.smap.version
        self.registered.set()
        event(log, "registered", node=self.node.id, smap_version=resp.smap.version, ttl=resp.lease_ttl_s)
        return resp.lease_id, max(1, resp.lease_ttl_s)

    def _heartbeat_loop(self) -> None:
        lease, ttl, backoff = 0, 3, 0.2
        while not self.stop.is_set():
            try:
                if not lease:
                    lease, ttl = self._register()
                resp = self.stub.Heartbeat(metadata_pb2.HeartbeatRequest(node_id=self.node.id, lease_id=lease),
                                           timeout=5)
                self.smap_version = resp.smap_version
                backoff = 0.2
                self.stop.wait(ttl / 3)
                continue
            except grpc.RpcError as e:
                err = errors.from_rpc_error(e, "metadata")
                if isinstance(err, errors.NotFound):
                    lease = 0  # lease lapsed: register again right away
                    continue
                log.info("metadata service unavailable: %s", err.message)
                if isinstance(err, errors.RemoteUnavailable):
                    self._next_replica()
                # It may have come back without our node (a new etcd, a removed Smap entry):
                # register again once it answers; RegisterNode is idempotent.
                lease = 0
            self.stop.wait(backoff)
            backoff = min(backoff * 2, 2.0)

    def _bmd_loop(self) -> None:
        backoff = 0.2
        while not self.stop.is_set():
            version = self.store.bmd_version
            try:
                call = self.stub.WatchBMD(metadata_pb2.WatchRequest(after_version=version, subscriber=self.node.id))
                for bmd in call:
                    if self.stop.is_set():
                        call.cancel()
                        return
                    known = {(Bck.from_proto(b.bck).uname, b.bid) for b in bmd.buckets}
                    self.store.apply_bmd(bmd.version, known, validated_reads(bmd), versions.bmd_s3_modes(bmd))
                    backoff = 0.2
            except grpc.RpcError as e:
                log.info("BMD watch interrupted: %s", e.code())
                if e.code() == grpc.StatusCode.UNAVAILABLE:
                    self._next_replica()
            except Exception:
                log.exception("applying a BMD failed")
            self.stop.wait(backoff)
            backoff = min(backoff * 2, 2.0)
