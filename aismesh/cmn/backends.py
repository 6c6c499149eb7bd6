"""Where the backend adapters listen, and the contract's view of a remote bucket.

``AISMESH_BACKENDS`` (``aws=127.0.0.1:7001,ht=127.0.0.1:7002``) names the adapters that run;
the launcher and compose set it for the gateway and the storage nodes. A provider without an
adapter answers a clear error naming it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from aismesh.cmn import errors
from aismesh.cmn.names import Bck, normalize_provider
from aismesh.cmn.rpc import ChannelPool
from aismesh.protos import backend_pb2, backend_pb2_grpc

ENV = "AISMESH_BACKENDS"
# Every adapter call has a deadline: control calls in all, data calls between pieces. Both stay
# below the gateway's stall bound (10 s), so a hanging remote costs a clear error naming the
# bucket, never a storage node marked stalled.
CONTROL_S = float(os.environ.get("AISMESH_BACKEND_CONTROL_S", "5"))
STALL_S = float(os.environ.get("AISMESH_BACKEND_STALL_S", "8"))


def parse_addrs(text: str) -> dict[str, str]:
    """``aws=host:port,ht=host:port`` -> {provider: address}; raises InvalidArgument on junk."""
    out: dict[str, str] = {}
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        provider, sep, addr = item.partition("=")
        if not sep or not addr:
            raise errors.InvalidArgument(f'{ENV}: "{item}" is not provider=host:port')
        out[normalize_provider(provider)] = addr.strip()
    return out


def flatten_extra(props: dict[str, Any]) -> dict[str, str]:
    """A bucket's ``extra`` props (``{"aws": {"endpoint": ...}}``) as the contract's flat map
    (``aws.endpoint``)."""
    out: dict[str, str] = {}
    for section, values in (props.get("extra") or {}).items():
        if isinstance(values, dict):
            for k, v in values.items():
                if v not in (None, ""):
                    out[f"{section}.{k}"] = str(v)
    return out


def remote_bucket(bck: Bck, props: dict[str, Any] | None = None, extra: dict[str, str] | None = None
                  ) -> backend_pb2.RemoteBucket:
    return backend_pb2.RemoteBucket(bck=bck.to_proto(), extra=extra if extra is not None else
                                    flatten_extra(props or {}))


def props_from_remote(remote: dict[str, str]) -> dict[str, Any]:
    """An adapter's dotted remote props (``extra.aws.cloud_region``) as a partial props document."""
    out: dict[str, Any] = {}
    for key, value in remote.items():
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = {"true": True, "false": False}.get(value, value)
    return out


class Backends:
    """One long-lived stub per configured adapter."""

    def __init__(self, addrs: dict[str, str] | None = None, channels: ChannelPool | None = None) -> None:
        self.addrs = addrs if addrs is not None else parse_addrs(os.environ.get(ENV, ""))
        self._channels = channels or ChannelPool()
        self._stubs: dict[str, backend_pb2_grpc.BackendStub] = {}
        self._lock = threading.Lock()

    def stub(self, provider: str) -> backend_pb2_grpc.BackendStub:
        s = self._stubs.get(provider)
        if s is not None:
            return s
        addr = self.addrs.get(provider)
        if not addr:
            running = ", ".join(sorted(self.addrs)) or "none"
            raise errors.RemoteUnavailable(
                f'no backend adapter for provider "{provider}" is running in this cluster '
                f"(adapters running: {running})", reason="no-adapter")
        with self._lock:
            s = self._stubs.get(provider)
            if s is None:
                s = backend_pb2_grpc.BackendStub(self._channels.get(addr))
                self._stubs[provider] = s
        return s

    def close(self) -> None:
        self._channels.close()


def adapter_error(e: Any, bck: Bck) -> errors.AisError:
    """A failed adapter call in the mesh taxonomy; transport failures name bucket and provider."""
    err = errors.from_rpc_error(e, f"{bck.provider} adapter")
    if type(err) is errors.RemoteUnavailable and bck.display() not in err.message:
        return errors.RemoteUnavailable(f"{bck.display()}: the {bck.provider} backend did not answer: {err.message}",
                                        bck=bck.to_proto())
    return err
