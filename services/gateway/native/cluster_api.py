"""AIS native API: the cluster (GET /v1/cluster|daemon?what=..., PUT /v1/cluster, GET /v1/reverse/daemon)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import grpc
from flask import Blueprint, Response, current_app, request

from aismesh.cmn import errors, hrw, props
from aismesh.protos import metadata_pb2, types_pb2
from services.gateway.native import errors as nerr
from services.gateway.native import jobs, logs, perf, remotes
from services.gateway.native.common import action_msg, cluster, flag, msg_value, str_field

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


def _smap(args: dict[str, Any]) -> Any:
    return smap_doc()


def _config(args: dict[str, Any]) -> Any:
    return cluster_config()


# GET /v1/cluster?what=... and /v1/daemon?what=...: each answer a JSON document.
WHAT: dict[str, Callable[[dict[str, Any]], Any]] = {
    "smap": _smap,
    "qryxstats": lambda a: jobs.query_stats(cluster(), a),
    "status": lambda a: jobs.one_status(cluster(), a),
    "status_all": lambda a: jobs.all_status(cluster(), a),
    "running_all": lambda a: jobs.running(cluster(), a),
    "cluster_config": _config,
    "remote": remotes.remote_list,
    "config": _config,
}


@bp.route("/v1/daemon", methods=["GET"])
@bp.route("/v1/cluster", methods=["GET"])
def what() -> Response:
    what = request.args.get("what", "")
    handler = WHAT.get(what)
    if handler is None:
        return nerr.response(400, f'invalid query "what={what}": expected one of {", ".join(sorted(WHAT))}')
    return Response(json.dumps(handler(action_msg())), content_type="application/json")


@bp.route("/v1/cluster", methods=["PUT"], strict_slashes=False)
def control() -> Response:
    """PUT /v1/cluster with an ActMsg: ``stop`` aborts a job (``start`` of a named kind is not supported)."""
    msg = action_msg()
    action = str_field(msg, "action", "ActMsg")
    if action == "stop":
        jobs.abort(cluster(), msg_value(msg, "stop message"))
        return Response(b"", status=200)
    if action == "set-config":
        # AIS's ConfigToSet as the value ({"features": "8"}), or the older form: name + string value.
        name = msg.get("name")
        return set_config({name: msg.get("value")} if isinstance(name, str) and name else
                          msg_value(msg, "set-config message"))
    raise errors.InvalidArgument(f'PUT /v1/cluster with action "{action}" is not supported by aismesh yet')


@bp.route("/v1/cluster/setconfig", methods=["PUT"])
def set_config_query() -> Response:
    """AIS's PUT /v1/cluster/setconfig?features=...: each query parameter one config key."""
    return set_config({k: v for k, v in request.args.items() if k != "transient"})


def set_config(partial: dict[str, Any]) -> Response:
    """Change the cluster config (features, s3_auth, bucket_defaults); every gateway follows its watch."""
    if not partial:
        raise errors.InvalidArgument("set-config: no config keys given")
    try:
        cfg = cluster().metadata.SetConfig(metadata_pb2.SetConfigRequest(json=json.dumps(partial)),
                                           timeout=jobs.CONTROL_TIMEOUT_S)
    except grpc.RpcError as e:
        raise errors.from_rpc_error(e, "metadata") from None
    current_app.extensions["aismesh.config"].apply(cfg)  # this worker sees it at once
    return Response(b"", status=200)


@bp.route("/v1/reverse/daemon", methods=["GET"])
def reverse_daemon() -> Response:
    """What AIS forwards to one node (header ``Ais-Node-Id``): ``what=node_status`` (performance, capacity)."""
    node_id = request.headers.get("Ais-Node-Id", "")
    what = request.args.get("what", "")
    if not node_id:
        raise errors.InvalidArgument('the node ("Ais-Node-Id" header) is missing')
    if what == "log":
        return _node_log(node_id)
    if node_id == PROXY_ID:
        if what in ("node_status", "status"):
            return Response(json.dumps(perf.gateway_status(smap_doc()["pmap"][PROXY_ID])),
                            content_type="application/json")
    elif what in ("node_status", "status"):
        snode = smap_doc()["tmap"].get(node_id)
        if snode is None:
            raise errors.NotFound(f'node "{node_id}" does not exist')
        return Response(json.dumps(perf.target_status(cluster(), node_id, snode)), content_type="application/json")
    raise errors.InvalidArgument(f'GET /v1/reverse/daemon?what={what} is not supported by aismesh yet '
                                 "(supported: node_status, log)")


def _node_log(node_id: str) -> Response:
    smap = smap_doc()
    if node_id not in smap["tmap"] and node_id not in smap["pmap"]:
        raise errors.NotFound(f'node "{node_id}" does not exist')
    path = logs.log_path(node_id, "gateway" if node_id == PROXY_ID else node_id)
    if flag("all"):
        return Response(logs.archive(path), content_type="application/gzip")
    return Response(logs.tail(path), content_type="text/plain; charset=utf-8")


def cluster_config() -> dict[str, Any]:
    """The cluster config as AIS shows it (the parts aismesh has): features and bucket defaults."""
    c = cluster()
    try:
        cfg = c.metadata.GetConfig(types_pb2.Empty(), timeout=jobs.CONTROL_TIMEOUT_S)
    except grpc.RpcError as e:
        raise errors.from_rpc_error(e, "metadata") from None
    doc: dict[str, Any] = json.loads(cfg.json) if cfg.json else {}
    defaults = props.default_props("ais", doc.get("bucket_defaults") or {})
    return {"version": str(cfg.version), "features": str(doc.get("features", "0")),
            "checksum": defaults["checksum"], "versioning": defaults["versioning"], "lru": defaults["lru"],
            "mirror": defaults["mirror"], "ec": defaults["ec"], "chunks": defaults["chunks"],
            "write_policy": defaults["write_policy"], "bucket_defaults": doc.get("bucket_defaults") or {},
            "uuid": c.meta.smap.uuid}
