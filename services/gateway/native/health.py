"""AIS native API: health and readiness (GET /v1/health)."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app

bp = Blueprint("native_health", __name__)
_STARTED_NS = time.time_ns()


@bp.route("/v1/health", methods=["GET"])
def health() -> Response:
    """200 once this gateway holds a BMD and an Smap with an online storage node; 503 before."""
    cluster = current_app.extensions["aismesh.cluster"]
    smap = cluster.meta.smap
    ready = cluster.meta.is_ready and any(t.state == "online" for t in smap.targets)
    if not ready:
        return Response(b"", status=503)
    uptime = str(time.time_ns() - _STARTED_NS)
    return Response(b"", status=200, headers={"Ais-Cluster-Uptime": uptime, "Ais-Node-Uptime": uptime})
