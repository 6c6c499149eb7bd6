"""Prometheus metrics every service exports, and the request id that travels with a call.

- gRPC services: ``server_interceptor(service)`` counts calls by method and status code, times
  them, and sums the message bytes that came in and went out (counted as they are serialized:
  reading a message's ``data`` field would copy it);
  it also puts the caller's request id (metadata ``aismesh-request-id``) into the log context.
- Clients: ``client_interceptor()`` adds the current request id to every outgoing call, so one
  request can be followed through the gateway's and every node's log lines.
- ``serve(listen)`` starts the /metrics HTTP endpoint of a process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server

from aismesh.cmn.log import request_id

REQUEST_ID_KEY = "aismesh-request-id"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

RPC_CALLS = Counter("aismesh_rpc_calls_total", "gRPC calls served, by method and status code",
                    ["service", "method", "code"])
RPC_SECONDS = Histogram("aismesh_rpc_duration_seconds", "Time to serve a gRPC call (streams: to the last message)",
                        ["service", "method"], buckets=LATENCY_BUCKETS)
RPC_BYTES = Counter("aismesh_rpc_object_bytes_total", "Bytes of the gRPC messages served (serialized size)",
                    ["service", "direction"])


def serve(listen: str, registry: CollectorRegistry = REGISTRY) -> int:
    """Serve /metrics on ``listen`` (HOST:PORT; port 0 picks one); returns the port."""
    host, _, port = listen.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    return int(server.server_port)


def _counting(convert: Callable[[Any], Any] | None, counter: Any, of_input: bool) -> Callable[[Any], Any] | None:
    """Wrap a (de)serializer so the serialized length is counted where it costs nothing."""
    if convert is None:
        return None
    if of_input:
        def deserialize(raw: bytes) -> Any:
            counter.inc(len(raw))
            return convert(raw)
        return deserialize

    def serialize(msg: Any) -> bytes:
        raw: bytes = convert(msg)
        counter.inc(len(raw))
        return raw
    return serialize


class _Call:
    """One served call's bookkeeping: time, bytes, the code it ended with."""

    def __init__(self, service: str, method: str, context: Any) -> None:
        self.service, self.method, self.context = service, method, context
        self.started = time.perf_counter()

    def responses(self, it: Iterator[Any]) -> Iterator[Any]:
        failed = False
        try:
            yield from it
        except BaseException:
            failed = True
            raise
        finally:
            self.done(failed)

    def done(self, failed: bool) -> None:
        code = self.context.code() if hasattr(self.context, "code") else None
        name = code.name if isinstance(code, grpc.StatusCode) else ("UNKNOWN" if failed else "OK")
        RPC_CALLS.labels(self.service, self.method, name).inc()
        RPC_SECONDS.labels(self.service, self.method).observe(time.perf_counter() - self.started)


class _ServerInterceptor(grpc.ServerInterceptor):
    def __init__(self, service: str) -> None:
        self.service = service

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        method = details.method.rsplit("/", 1)[-1]
        bytes_in, bytes_out = RPC_BYTES.labels(self.service, "in"), RPC_BYTES.labels(self.service, "out")
        rid = next((v for k, v in details.invocation_metadata or () if k == REQUEST_ID_KEY), "")
        service = self.service

        def wrap(behavior: Callable[..., Any], streams_out: bool) -> Callable[..., Any]:
            def run(request: Any, context: Any) -> Any:
                call = _Call(service, method, context)
                token = request_id.set(str(rid))
                try:
                    try:
                        result = behavior(request, context)
                    except BaseException:
                        call.done(True)
                        raise
                    if streams_out:
                        return call.responses(result)
                    call.done(False)
                    return result
                finally:
                    request_id.reset(token)

            return run

        kinds = (("unary_unary", False, grpc.unary_unary_rpc_method_handler),
                 ("unary_stream", True, grpc.unary_stream_rpc_method_handler),
                 ("stream_unary", False, grpc.stream_unary_rpc_method_handler),
                 ("stream_stream", True, grpc.stream_stream_rpc_method_handler))
        for attr, streams_out, make in kinds:
            behavior = getattr(handler, attr)
            if behavior is not None:
                return make(wrap(behavior, streams_out),
                            request_deserializer=_counting(handler.request_deserializer, bytes_in, True),
                            response_serializer=_counting(handler.response_serializer, bytes_out, False))
        return handler


def server_interceptor(service: str) -> grpc.ServerInterceptor:
    return _ServerInterceptor(service)


class _ClientCallDetails(grpc.ClientCallDetails):
    def __init__(self, details: Any, metadata: list[tuple[str, str]]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class _ClientInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                         grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds the current request id (if any) to every outgoing call's metadata."""

    @staticmethod
    def _details(details: Any) -> Any:
        rid = request_id.get()
        if not rid:
            return details
        return _ClientCallDetails(details, [*(details.metadata or ()), (REQUEST_ID_KEY, rid)])

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(details), request_iterator)

    def intercept_stream_stream(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(details), request_iterator)


def client_interceptor() -> Any:
    return _ClientInterceptor()
