"""The processes of a local mesh: command lines, addresses and health probes."""

from __future__ import annotations

import os
import sys
import urllib.request
from dataclasses import dataclass

from aismesh.cmn.rpc import check_health
from aismesh.launcher.state import State


@dataclass(frozen=True)
class ServiceSpec:
    name: str          # etcd, metadata, t1.., gateway
    kind: str          # etcd | metadata | backend | storage | gateway
    argv: tuple[str, ...]
    addr: str          # host:port clients use
    log: str           # DATA/logs/<name>.log
    metrics: str = ""  # host:port/path of its Prometheus metrics


def bin_dir() -> str:
    return os.path.dirname(sys.executable)


def target_names(n: int) -> list[str]:
    return [f"t{i}" for i in range(1, n + 1)]


def metadata_names(n: int) -> list[str]:
    """The metadata replicas: "metadata" (id m1), then "metadata2" (m2), ..."""
    return ["metadata", *(f"metadata{i}" for i in range(2, n + 1))]


# Providers with an adapter in services/backends/ (the launcher refuses others); "ais" is the
# adapter for remote AIS clusters (ais://@alias/b), started with --backends ais or any --remote.
ADAPTERS = ("aws", "ht", "gcp", "azure", "oci", "ais")


def backend_names(providers: list[str] | tuple[str, ...]) -> list[str]:
    return [f"backend-{p}" for p in providers]


def backends_env(st: State) -> str:
    """AISMESH_BACKENDS for the gateway and the storage nodes: ``aws=host:port,...``."""
    return ",".join(f"{p}={st.host}:{st.ports[f'backend-{p}']}" for p in st.backends)


def port_names(targets: int, metadata: int = 1, backends: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Every port a mesh needs: the services' own, and a metrics port for each of ours."""
    ours = [*metadata_names(metadata), *backend_names(backends), *target_names(targets), "gateway"]
    return ["etcd", "etcd-peer", *ours[:-1], *(f"metrics-{n}" for n in ours)]


def _with_metrics(st: State, spec: ServiceSpec) -> ServiceSpec:
    """The spec with ``--metrics-listen`` on the port the state keeps for it."""
    port = st.ports.get(f"metrics-{spec.name}")
    if not port:
        return spec
    addr = f"{st.host}:{port}"
    return ServiceSpec(spec.name, spec.kind, (*spec.argv, "--metrics-listen", addr), spec.addr, spec.log,
                       f"{addr}/metrics")


def build_specs(st: State, workers: int, local_socket: str = "auto") -> list[ServiceSpec]:
    """Every service in start order (stop order is the reverse)."""
    h, p, data = st.host, st.ports, st.data
    logs = os.path.join(data, "logs")
    py = sys.executable
    etcd_addr = f"{h}:{p['etcd']}"
    meta_addr = ",".join(f"{h}:{p[m]}" for m in metadata_names(st.metadata))
    specs = [
        ServiceSpec("etcd", "etcd", (
            os.path.join(bin_dir(), "etcd"), "--name", "aismesh", "--data-dir", os.path.join(data, "etcd"),
            "--logger=zap", "--log-level=error",
            "--listen-client-urls", f"http://{etcd_addr}", "--advertise-client-urls", f"http://{etcd_addr}",
            "--listen-peer-urls", f"http://{h}:{p['etcd-peer']}",
            "--initial-advertise-peer-urls", f"http://{h}:{p['etcd-peer']}",
            "--initial-cluster", f"aismesh=http://{h}:{p['etcd-peer']}",
        ), etcd_addr, os.path.join(logs, "etcd.log"), f"{etcd_addr}/metrics"),
    ]
    for i, name in enumerate(metadata_names(st.metadata), 1):
        addr = f"{h}:{p[name]}"
        specs.append(ServiceSpec(name, "metadata", (
            py, "-m", "services.metadata", "--listen", addr, "--etcd", etcd_addr, "--id", f"m{i}",
        ), addr, os.path.join(logs, f"{name}.log")))
    for provider in st.backends:
        name = f"backend-{provider}"
        addr = f"{h}:{p[name]}"
        specs.append(ServiceSpec(name, "backend", (
            py, "-m", f"services.backends.{provider}", "--listen", addr,
            *(("--metadata", meta_addr) if provider == "ais" else ()),  # where the attachments are
        ), addr, os.path.join(logs, f"{name}.log")))
    for t in target_names(st.targets):
        addr = f"{h}:{p[t]}"
        mps = [os.path.join(data, "targets", t, f"mp{i}") for i in (1, 2)]
        argv = [py, "-m", "services.storage", "--listen", addr, "--metadata", meta_addr, "--id", t]
        for mp in mps:
            argv += ["--mountpath", mp]
        if local_socket == "off":
            argv += ["--local-socket", "off"]
        specs.append(ServiceSpec(t, "storage", tuple(argv), addr, os.path.join(logs, f"{t}.log")))
    gw = f"{h}:{st.port}"
    specs.append(ServiceSpec("gateway", "gateway", (
        py, "-m", "services.gateway", "--listen", gw, "--metadata", meta_addr, "--workers", str(workers),
    ), gw, os.path.join(logs, "gateway.log")))
    return [specs[0], *(_with_metrics(st, spec) for spec in specs[1:])]


def _http_ok(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def is_healthy(spec: ServiceSpec, timeout: float = 1.0) -> bool:
    if spec.kind == "etcd":
        return _http_ok(f"http://{spec.addr}/health", timeout)
    if spec.kind == "gateway":
        return _http_ok(f"http://{spec.addr}/v1/health", timeout)
    return check_health(spec.addr, timeout)
