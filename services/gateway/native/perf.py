"""Node status (``GET /v1/reverse/daemon?what=node_status``): what ``get_performance()`` returns a node.

AIS's ``stats.NodeStatus`` shape, with what aismesh knows: the node, its uptime, and the capacity
of each mountpath (from the storage node's NodeInfo). Request counters live in Prometheus
(``/metrics`` on every service), so ``tracker`` is empty here.
"""

from __future__ import annotations

import time
from typing import Any

from aismesh.protos import storage_pb2, types_pb2
from services.gateway.cluster import CONTROL_TIMEOUT_S, Cluster

_STARTED_NS = time.time_ns()


def _cdf(mountpaths: list[storage_pb2.Mountpath]) -> dict[str, Any]:
    mps: dict[str, Any] = {}
    pcts: list[int] = []
    for mp in mountpaths:
        used = mp.total_bytes - mp.free_bytes
        pct = int(used * 100 / mp.total_bytes) if mp.total_bytes else 0
        pcts.append(pct)
        mps[mp.path] = {"capacity": {"used": str(used), "avail": str(mp.free_bytes), "pct_used": pct},
                        "disks": [], "fs": {"fs": "", "fs_type": "", "fs_id": ""}}
    return {"mountpaths": mps, "pct_max": max(pcts, default=0), "pct_avg": sum(pcts) // max(len(pcts), 1),
            "pct_min": min(pcts, default=0), "cs_err": ""}


def target_status(cluster: Cluster, node_id: str, snode: dict[str, Any]) -> dict[str, Any]:
    """One storage node's status; ``status`` says "offline" when it does not answer."""
    stub = next((s for n, s in cluster.online_nodes() if n.id == node_id), None)
    info: storage_pb2.NodeInfoResponse | None = None
    if stub is not None:
        try:
            info = stub.NodeInfo(types_pb2.Empty(), timeout=CONTROL_TIMEOUT_S)
        except Exception:
            info = None
    mountpaths = list(info.mountpaths) if info is not None else []
    uptime = time.time_ns() - info.started_ns if info is not None and info.started_ns else 0
    return {"snode": snode, "status": "online" if info is not None else "offline", "deployment": "aismesh",
            "version": "aismesh", "build_time": "", "pid": 0, "tracker": {}, "tcdf": _cdf(mountpaths),
            "uptime": str(uptime), "bmd_version": info.bmd_version if info else 0,
            "smap_version": info.smap_version if info else 0}


def gateway_status(snode: dict[str, Any]) -> dict[str, Any]:
    return {"snode": snode, "status": "online", "deployment": "aismesh", "version": "aismesh", "build_time": "",
            "tracker": {}, "uptime": str(time.time_ns() - _STARTED_NS)}
