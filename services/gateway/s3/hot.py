"""The S3 hot path: object GET, HEAD and PUT without Flask's per-request machinery.

A small object's GET cost about 0.4 ms of a gateway worker's CPU, and a third of it was Flask
around our code: the request and app contexts, URL matching, hooks, context-local lookups
(docs/performance.md). This WSGI middleware sits in front of the Flask app and takes the
requests that are most of an object store's traffic: GetObject, HeadObject and PutObject
(not a copy) under /s3, without a query string. It runs the very code the Flask route runs for
them (``routes.plain_object``, which reads everything from the request it is handed), with the
same authentication, errors, request id, metrics and log line; anything else goes on to Flask.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from aismesh.cmn import errors
from aismesh.cmn.log import request_id
from services.gateway import metrics
from services.gateway.cluster import Cluster
from services.gateway.clusterconf import ConfigSync
from services.gateway.s3 import auth, routes
from services.gateway.s3.errors import S3Error, from_ais, from_http

log = logging.getLogger("gateway")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_METHODS = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject"}
_PATH_PREFIX = routes.PREFIX + "/"


def takes(environ: dict[str, Any]) -> bool:
    """Whether the hot path serves this request: an object GET/HEAD/PUT under /s3 with no query
    string (sub-resources, versions, uploads, overrides) and, for PUT, not a copy. A path with
    no key (a bucket) is found out later and handed on too."""
    return (environ.get("REQUEST_METHOD") in _METHODS and not environ.get("QUERY_STRING")
            and environ.get("PATH_INFO", "").startswith(_PATH_PREFIX)
            and "HTTP_X_AMZ_COPY_SOURCE" not in environ)


class HotPath:
    """WSGI middleware: the hot path for what ``takes`` accepts, ``app`` (Flask) for the rest."""

    def __init__(self, app: WsgiApp, cluster: Cluster, config: ConfigSync, new_id: Callable[[], str]) -> None:
        self.app = app
        self.cluster = cluster
        self.config = config
        self.new_id = new_id

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not takes(environ):
            return self.app(environ, start_response)
        try:
            bucket, key = routes.split_path(environ)
        except S3Error:
            bucket = key = ""  # Flask answers it, in the one place that words it
        if not bucket or not key:
            return self.app(environ, start_response)
        return self._serve(environ, start_response, bucket, key)

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any], bucket: str,
               key: str) -> Iterable[bytes]:
        started = time.perf_counter()
        rid = environ[metrics.REQUEST_ID] = self.new_id()
        token = request_id.set(rid)  # every log line and gRPC call of this request carries it
        req = Request(environ)
        try:
            resp = self._answer(req, bucket, key)
            metrics.finish(req, resp, "s3", _METHODS[req.method], time.perf_counter() - started)
        finally:
            request_id.reset(token)
        return resp(environ, start_response)

    def _answer(self, req: Request, bucket: str, key: str) -> Response:
        try:
            conf = self.config.current
            if conf.s3_keys:  # with access keys configured, every S3 request is signed (SigV4)
                req.environ[auth.VERIFIED] = auth.authenticate(req.environ, conf.s3_keys, req.args, routes.PREFIX)
            try:
                return routes.plain_object(self.cluster, req, self.cluster.bucket_by_name(bucket), key)
            except errors.AisError as e:
                raise from_ais(e, bucket, key) from None
        except S3Error as e:
            return routes.error_response(e, req)
        except errors.AisError as e:  # from the signature check, worded as Flask's path words it
            return routes.error_response(from_ais(e), req)
        except HTTPException as e:
            return routes.error_response(from_http(e), req)
        except Exception as e:
            log.exception("unhandled error", extra={"fields": {"req_id": req.environ.get(metrics.REQUEST_ID, "")}})
            return routes.error_response(S3Error.internal(e), req)
