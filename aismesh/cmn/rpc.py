"""gRPC plumbing every service shares: long-lived channels, servers with health and reflection."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from aismesh.cmn.metrics import client_interceptor, server_interceptor

# Object bytes travel in chunks of this size (a measured choice: see docs/performance.md).
CHUNK_SIZE = 1 << 20
# Listing pages and BMD documents can be large; object data never exceeds one chunk a message.
MAX_MESSAGE = 64 << 20

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # Reconnect fast after a peer restarts instead of backing off for many seconds.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    # Unary-stream calls (object GETs) run in the caller's thread instead of hopping through
    # the channel's spin thread: measured ~2x less gateway CPU per small GET.
    (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1),
]
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_ping_strikes", 0),
]


class ChannelPool:
    """One long-lived channel per address, created on first use and shared by every thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._channels: dict[str, grpc.Channel] = {}
        self._raw: list[grpc.Channel] = []

    def get(self, addr: str) -> grpc.Channel:
        """The channel to ``addr``; its calls carry the current request id."""
        ch = self._channels.get(addr)
        if ch is not None:
            return ch
        with self._lock:
            ch = self._channels.get(addr)
            if ch is None:
                raw = grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)
                self._raw.append(raw)
                ch = grpc.intercept_channel(raw, client_interceptor())
                self._channels[addr] = ch
            return ch

    def close(self) -> None:
        with self._lock:
            for ch in self._raw:
                ch.close()
            self._raw.clear()
            self._channels.clear()


def make_server(
    listen: str,
    register: Iterable[Callable[[grpc.Server], None]],
    service_names: Iterable[str],
    max_workers: int = 32,
    metrics_name: str = "",
) -> tuple[grpc.Server, health.HealthServicer, int]:
    """A started-ready (not yet started) server with health and reflection; returns the bound port.
    With ``metrics_name``, every call is counted and timed under that service name."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers), options=SERVER_OPTIONS,
        interceptors=[server_interceptor(metrics_name)] if metrics_name else None,
    )
    for add in register:
        add(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = list(service_names)
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server,
    )
    port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    return server, health_servicer, port


def set_serving(health_servicer: health.HealthServicer, names: Iterable[str], serving: bool) -> None:
    status = (health_pb2.HealthCheckResponse.SERVING if serving
              else health_pb2.HealthCheckResponse.NOT_SERVING)
    for n in ["", *names]:
        health_servicer.set(n, status)


def check_health(addr: str, timeout: float = 1.0) -> bool:
    """True when the gRPC server at ``addr`` reports SERVING."""
    try:
        with grpc.insecure_channel(addr) as ch:
            resp = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout,
            )
            return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


_FAILOVER_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# After every replica refused, one more try waits this long for a channel to reconnect: a
# replica that restarts is back within about a second, but a channel that saw it refuse stays
# in its reconnect backoff (up to max_reconnect_backoff_ms) and fails calls at once until then.
RECONNECT_WAIT_S = 3.0


class FailoverStub:
    """One stub over several replicas of a service (any replica serves any call): a call that
    finds its replica unavailable goes to the next one, and later calls stay there. A server
    stream that breaks mid-way moves the next call on too; the caller reconnects as it would.
    Addresses may be host names (``metadata1:7100``): each replica has its own channel."""

    def __init__(self, stubs: list[Any]) -> None:
        if not stubs:
            raise ValueError("FailoverStub needs at least one stub")
        self._stubs = stubs
        self._current = 0
        self._lock = threading.Lock()

    def _move_on(self, failed: int) -> None:
        with self._lock:
            if self._current == failed:
                self._current = (failed + 1) % len(self._stubs)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(request: Any, **kwargs: Any) -> Any:
            for attempt in range(len(self._stubs) + 1):
                i = self._current
                kw = kwargs
                if attempt == len(self._stubs):
                    timeout = kwargs.get("timeout")
                    wait = RECONNECT_WAIT_S if timeout is None else min(timeout, RECONNECT_WAIT_S)
                    kw = {**kwargs, "wait_for_ready": True, "timeout": wait}
                try:
                    result = getattr(self._stubs[i], method)(request, **kw)
                except grpc.RpcError as e:
                    if e.code() not in _FAILOVER_CODES or attempt == len(self._stubs):
                        raise
                    if e.code() != grpc.StatusCode.UNAVAILABLE and attempt == len(self._stubs) - 1:
                        raise
                    self._move_on(i)
                    continue
                return self._stream(result, i) if hasattr(result, "__next__") else result
            raise AssertionError("unreachable")

        return call

    def _stream(self, responses: Any, i: int) -> Any:
        try:
            yield from responses
        except grpc.RpcError as e:
            if e.code() in _FAILOVER_CODES:
                self._move_on(i)
            raise
