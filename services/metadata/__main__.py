"""``python -m services.metadata``: the metadata service (BMD, Smap, config in etcd)."""

from __future__ import annotations

import argparse
import os
import signal
import threading

from aismesh.cmn import errors, metrics
from aismesh.cmn import log as jlog
from aismesh.cmn.rpc import make_server, set_serving
from aismesh.protos import metadata_pb2_grpc
from services.metadata.etcdstore import EtcdStore
from services.metadata.server import MetadataServicer

SERVICE = "aismesh.Metadata"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m services.metadata", description=__doc__)
    ap.add_argument("--listen", required=True, help="HOST:PORT for gRPC")
    ap.add_argument("--etcd", required=True, help="etcd client endpoint(s) HOST:PORT, comma-separated")
    ap.add_argument("--id", default="m1", help="this replica's id (several may run)")
    ap.add_argument("--advertise", default="", help="address other services dial (default: --listen)")
    ap.add_argument("--node-ttl", type=int, default=10, help="seconds a node may miss heartbeats before offline")
    ap.add_argument("--etcd-wait", type=float, default=60.0, help="seconds to wait for etcd at start")
    ap.add_argument("--metrics-listen", default="", help="HOST:PORT of Prometheus /metrics (default: none)")
    args = ap.parse_args(argv)
    log = jlog.setup("metadata")

    store = EtcdStore(args.etcd.split(","))
    servicer = MetadataServicer(store, args.id, args.advertise or args.listen, args.node_ttl)
    # S3 keys and S3-API-via-Root asked for at start (`aismesh up` passes them in the environment,
    # so the secret is not on a command line): written to the cluster config in etcd.
    servicer.start_config = {
        "access_key": os.environ.get("AISMESH_S3_ACCESS_KEY", ""),
        "secret_key": os.environ.get("AISMESH_S3_SECRET_KEY", ""),
        "s3_at_root": os.environ.get("AISMESH_S3_AT_ROOT", "").lower() in ("1", "true", "yes", "on"),
    }
    server, health, port = make_server(
        args.listen, [lambda s: metadata_pb2_grpc.add_MetadataServicer_to_server(servicer, s)], [SERVICE],
        metrics_name="metadata",
    )
    if args.metrics_listen:
        metrics.serve(args.metrics_listen)
    set_serving(health, [SERVICE], False)
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        store.wait_ready(args.etcd_wait)
        servicer.init_documents()
    except errors.AisError as e:
        jlog.event(log, "cannot start", error=e.message)
        server.stop(0)
        return 1
    set_serving(health, [SERVICE], True)
    jlog.event(log, "serving", listen=args.listen, port=port, etcd=args.etcd, id=args.id)
    stop.wait()
    set_serving(health, [SERVICE], False)
    servicer.stop()
    server.stop(grace=0.5).wait(2)
    jlog.event(log, "stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
