"""The gateway's WSGI application: the S3 and native front ends over one Cluster client layer."""

from __future__ import annotations

import logging
import os
import time

from flask import Flask, Request, Response, g, request
from werkzeug.exceptions import HTTPException

from aismesh.cmn import errors
from aismesh.cmn.log import request_id
from services.gateway import metrics
from services.gateway.cluster import Cluster
from services.gateway.clusterconf import ConfigSync
from services.gateway.native import batch, buckets, cluster_api, health, objects, remotes
from services.gateway.native import errors as native_errors
from services.gateway.s3 import auth as s3_auth
from services.gateway.s3 import routes as s3_routes
from services.gateway.s3.errors import S3Error, from_ais, from_http
from services.gateway.s3.hot import HotPath

log = logging.getLogger("gateway")


def _looks_like_s3(req: Request) -> bool:
    """An S3 client that was pointed at the root instead of /s3: it signs, or says x-amz-*."""
    auth = req.headers.get("Authorization", "")
    return (auth.startswith(("AWS4-HMAC-SHA256", "AWS ")) or "X-Amz-Algorithm" in req.args
            or any(k.lower().startswith("x-amz-") for k, _ in req.headers.items()))


def _is_s3() -> bool:
    """Whether this request is for the S3 API: under /s3, or at the root with S3-API-via-Root."""
    return request.path.startswith(s3_routes.PREFIX) or bool(g.get("s3_at_root"))


def _is_root_s3_path(path: str) -> bool:
    """A path S3-API-via-Root serves as S3: anything but the native API (/v1)."""
    return not (path == "/v1" or path.startswith("/v1/") or path.startswith(s3_routes.PREFIX))


def create_app(metadata_addrs: list[str] | None = None, wait_ready_s: float = 0.0, hot_path: bool = True) -> Flask:
    """Build the app and its Cluster (one per process: call it after the WSGI server forks).
    ``hot_path``: plain S3 object GET/HEAD/PUT skip Flask's per-request machinery (s3/hot.py)."""
    addrs = metadata_addrs or os.environ.get("AISMESH_METADATA", "127.0.0.1:51000").split(",")
    app = Flask("aismesh.gateway")
    # Object keys may contain "//" and trailing slashes: routing must keep them as sent.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    cluster = Cluster(addrs, subscriber=f"gateway-{os.getpid()}")
    cluster.start()
    if wait_ready_s:
        cluster.meta.wait_ready(wait_ready_s)
    app.extensions["aismesh.cluster"] = cluster
    config = ConfigSync(cluster.metadata, subscriber=f"gateway-{os.getpid()}")
    config.start()
    cluster.streaming_cold_get = lambda: config.current.is_streaming_cold_get
    app.extensions["aismesh.config"] = config
    for bp in (health.bp, cluster_api.bp, remotes.bp, buckets.bp, objects.bp, batch.bp):
        app.register_blueprint(bp)
    app.register_blueprint(s3_routes.bp)

    @app.before_request
    def _request_id() -> None:
        rid = request.environ[metrics.REQUEST_ID] = new_request_id()
        g.started = time.perf_counter()
        # Every log line of this request, and every gRPC call it makes, carries the id.
        g.request_id_token = request_id.set(rid)

    @app.before_request
    def _s3_front() -> Response | None:
        # S3-API-via-Root: the same S3 API at "/" (routing found no rule there; /v1 stays native).
        is_root = _is_root_s3_path(request.path)
        if not request.path.startswith(s3_routes.PREFIX) and not is_root:
            return None
        conf = config.current
        if is_root:
            if not conf.is_s3_at_root:
                return None  # routing answers 404 (with a hint for S3 clients)
            g.s3_at_root = True
        if conf.s3_keys:  # with access keys configured, every S3 request is signed (SigV4)
            request.environ[s3_auth.VERIFIED] = s3_auth.authenticate(
                request.environ, conf.s3_keys, request.args, "" if is_root else s3_routes.PREFIX)
        if is_root:
            return s3_routes.dispatch()
        return None

    @app.after_request
    def _stamp(resp: Response) -> Response:
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        if _is_s3():
            api, op = "s3", metrics.s3_op(request.method, g.get("s3_bucket", ""), g.get("s3_key", ""),
                                         request.args, "x-amz-copy-source" in request.headers)
        else:
            api, op = "native", metrics.native_op(request.method, request.path)
        metrics.finish(request, resp, api, op, seconds)
        return resp

    @app.teardown_request
    def _forget_request_id(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id.reset(token)

    @app.errorhandler(S3Error)
    def _s3_error(err: S3Error) -> Response:
        return s3_routes.error_response(err)

    @app.errorhandler(errors.AisError)
    def _ais_error(err: errors.AisError) -> Response:
        if _is_s3():
            return s3_routes.error_response(from_ais(err, g.get("s3_bucket", ""), g.get("s3_key", "")))
        return native_errors.from_ais(err)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        # Routing's own answers (no such route, method not allowed) in the dialect of the API called.
        status = err.code or 500
        if status == 404 and _looks_like_s3(request):
            host = request.host_url.rstrip("/")
            return s3_routes.error_response(S3Error(
                "InvalidRequest", 400, f"aismesh serves the S3 API under {s3_routes.PREFIX}: use {host}"
                f"{s3_routes.PREFIX} as the endpoint URL (this request went to {request.path}), or turn on the "
                "S3-API-via-Root feature (aismesh up --s3-at-root, or the cluster config's features)"))
        if _is_s3():
            return s3_routes.error_response(from_http(err))
        return native_errors.response(status, err.description or err.name)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unhandled error", extra={"fields": {"req_id": request.environ.get(metrics.REQUEST_ID, "")}})
        if _is_s3():
            return s3_routes.error_response(S3Error.internal(err))
        return native_errors.response(500, f"internal error: {err}")

    if hot_path:
        app.wsgi_app = HotPath(app.wsgi_app, cluster, config, new_request_id)  # type: ignore[method-assign]
    return app


def new_request_id() -> str:
    return os.urandom(8).hex().upper()  # 16 hex digits; uuid4 showed in profiles
