"""AIS native API: the cluster map (GET /v1/daemon?what=smap, GET /v1/cluster?what=smap)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, request

from aismesh.cmn import hrw
from services.gateway.native import errors as nerr
from services.gateway.native.common import cluster

bp = Blueprint("native_cluster", __name__)
PROXY_ID = "gateway"
_FLAG_MAINTENANCE = 1 << 2


def _snode(node_id: str, kind: str, url: str, flags: int = 0) -> dict[str, Any]:
    parts = urlsplit(url)
    net = {"node_ip_addr": parts.hostname or "", "daemon_port": str(parts.port or 80), "direct_url": url}
    return {"daemon_id": node_id, "daemon_type": kind, "public_net": net, "intra_control_net": net,
            "intra_data_net": net, "flags": flags, "id_digest": hrw.digest(node_id)}


def smap_doc() -> dict[str, Any]:
    """The Smap as the aistore SDK parses it; every node's direct_url is this gateway's URL,
    because storage nodes speak gRPC only and the gateway serves /v1/objects for all of them."""
    url = request.host_url.rstrip("/")
    smap = cluster().meta.smap
    proxy = _snode(PROXY_ID, "proxy", url)
    tmap = {t.id: _snode(t.id, "target", url, 0 if t.state == "online" else _FLAG_MAINTENANCE)
            for t in smap.targets}
    return {"tmap": tmap, "pmap": {PROXY_ID: proxy}, "proxy_si": proxy, "uuid": smap.uuid,
            "creation_time": "", "version": str(smap.version)}


@bp.route("/v1/daemon", methods=["GET"])
@bp.route("/v1/cluster", methods=["GET"])
def what() -> Response:
    what = request.args.get("what", "")
    if what == "smap":
        return Response(json.dumps(smap_doc()), content_type="application/json")
    return nerr.response(400, f'invalid query "what={what}": not supported by aismesh yet')
