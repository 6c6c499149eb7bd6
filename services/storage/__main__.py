"""``python -m services.storage``: a storage node (AIStore "target")."""

from __future__ import annotations

import argparse
import functools
import os
import signal
import threading

import grpc
from prometheus_client import Gauge

from aismesh.cmn import log as jlog
from aismesh.cmn import metrics
from aismesh.cmn.localread import host_id
from aismesh.cmn.rpc import CHANNEL_OPTIONS, make_server, set_serving
from aismesh.protos import metadata_pb2, metadata_pb2_grpc, storage_pb2_grpc
from services.storage.localserver import LocalServer, default_socket
from services.storage.membership import Membership
from services.storage.server import StorageServicer
from services.storage.store import Store

SERVICE = "aismesh.Storage"


def mountpath_usage(mountpaths: list[str]) -> None:
    """Disk used and total per mountpath, read at each scrape."""
    used = Gauge("aismesh_mountpath_used_bytes", "Bytes used on the file system of a mountpath", ["mountpath"])
    total = Gauge("aismesh_mountpath_total_bytes", "Size of the file system of a mountpath", ["mountpath"])
    for mp in mountpaths:
        used.labels(mp).set_function(functools.partial(_fs_bytes, mp, used=True))
        total.labels(mp).set_function(functools.partial(_fs_bytes, mp, used=False))


def _fs_bytes(mp: str, used: bool) -> float:
    st = os.statvfs(mp)
    return float((st.f_blocks - st.f_bfree if used else st.f_blocks) * st.f_frsize)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m services.storage", description=__doc__)
    ap.add_argument("--listen", required=True, help="HOST:PORT for gRPC")
    ap.add_argument("--metadata", required=True, help="metadata service address(es), comma-separated")
    ap.add_argument("--id", required=True, help="stable node id (t1, t2, ...)")
    ap.add_argument("--mountpath", action="append", required=True, help="a data folder; repeat for more")
    ap.add_argument("--advertise", default="", help="address others dial (default: --listen)")
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--local-socket", default="", help="Unix socket of the same-host read fast path "
                    "(default: an abstract socket named after the node; 'off' disables it)")
    ap.add_argument("--metrics-listen", default="", help="HOST:PORT of Prometheus /metrics (default: none)")
    args = ap.parse_args(argv)
    log = jlog.setup(f"storage-{args.id}")
    # Installed first: a stop asked for while the index is being rebuilt ends the node right after.
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    store = Store(args.id, args.mountpath)
    store.open()
    servicer = StorageServicer(store)
    server, health, port = make_server(
        args.listen, [lambda s: storage_pb2_grpc.add_StorageServicer_to_server(servicer, s)], [SERVICE],
        max_workers=args.threads, metrics_name="storage",
    )
    if args.metrics_listen:
        mountpath_usage(store.mountpaths)
        metrics.serve(args.metrics_listen)
    server.start()
    local_path = "" if args.local_socket == "off" else (args.local_socket or default_socket(args.id, store.mountpaths))
    local = (LocalServer(local_path, servicer.open_local, store, servicer.spec_of, is_quick=servicer.quick_local)
             if local_path else None)
    if local is not None:
        local.start()
    set_serving(health, [SERVICE], True)
    # One long-lived channel per metadata replica (hostnames allowed), made once.
    addrs = [a.strip() for a in args.metadata.split(",") if a.strip()]
    channels = [grpc.insecure_channel(a, options=CHANNEL_OPTIONS) for a in addrs]
    node = metadata_pb2.Node(id=args.id, type="target", grpc_addr=args.advertise or args.listen,
                             mountpaths=store.mountpaths, local_socket=local_path, host_id=host_id())
    membership = Membership([metadata_pb2_grpc.MetadataStub(ch) for ch in channels], node, store)
    servicer.smap_version = lambda: membership.smap_version
    membership.start()
    jlog.event(log, "serving", listen=args.listen, port=port, mountpaths=store.mountpaths)
    stop.wait()
    set_serving(health, [SERVICE], False)
    membership.stop.set()
    if local is not None:
        local.stop()
    server.stop(grace=0.5).wait(2)  # in-flight streams get half a second
    for ch in channels:
        ch.close()
    store.close()
    jlog.event(log, "stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
