"""``python -m services.gateway``: the gateway under gunicorn (several worker processes)."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import tempfile
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from aismesh.cmn import log as jlog
from aismesh.cmn.proc import die_with_parent, gateway_workers, keep_buffers_in_heap
from services.gateway.worker import claim_slot, release_slot


def post_fork(server: Any, worker: Any) -> None:
    """A worker dies the moment its master does: left alone, gunicorn workers notice within a
    second and then drain for the graceful timeout while holding the port, so the restarted
    gateway could not bind (issue: killed master, ~2 s of refused connections)."""
    die_with_parent(signal.SIGKILL, parent_pid=server.pid)


class JsonLogger(glogging.Logger):
    """gunicorn's own lines (start, workers, errors) as JSON like every other service's."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.error_log.handlers[:] = [jlog.json_handler("gateway")]
        self.error_log.propagate = False


def metrics_hooks(listen: str) -> dict[str, Any]:
    """gunicorn hooks that serve the workers' summed metrics from the master on ``listen``."""

    def when_ready(server: Any) -> None:
        from prometheus_client import CollectorRegistry, multiprocess

        from aismesh.cmn import metrics

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        metrics.serve(listen, registry)

    def child_exit(server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
        release_slot(server, worker)

    return {"when_ready": when_ready, "child_exit": child_exit}


def runtime_dir() -> str:
    """A fresh private folder (0700) of this gateway's own: the workers' metric files
    (prometheus_client's multiprocess mode, set before any worker imports it) and gunicorn's
    control socket, which would otherwise be one path shared by every gateway of the host."""
    path = tempfile.mkdtemp(prefix="aismesh-gateway-")
    atexit.register(shutil.rmtree, path, True)
    metrics = os.path.join(path, "metrics")
    os.mkdir(metrics)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics
    return path


class GatewayServer(BaseApplication):
    """gunicorn embedded: each worker builds its own app (gRPC must not cross a fork)."""

    def __init__(self, options: dict[str, Any], metadata: list[str]) -> None:
        self.options = options
        self.metadata = metadata
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from services.gateway.app import create_app

        jlog.setup("gateway")
        return create_app(self.metadata, wait_ready_s=5.0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m services.gateway", description=__doc__)
    ap.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT for HTTP (S3 under /s3, native /v1)")
    ap.add_argument("--metadata", required=True, help="metadata service address(es), comma-separated")
    ap.add_argument("--workers", type=int, default=gateway_workers(), help="worker processes (default: one per CPU, "
                    "at least 2)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("AISMESH_GATEWAY_THREADS", "8")),
                    help="threads per worker (env AISMESH_GATEWAY_THREADS)")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--metrics-listen", default="", help="HOST:PORT of Prometheus /metrics (default: none)")
    args = ap.parse_args(argv)
    keep_buffers_in_heap()  # before the workers fork: they inherit it
    os.environ["AISMESH_GATEWAY_THREADS"] = str(args.threads)  # read by every worker's Cluster
    run_dir = runtime_dir()
    options = {
        "bind": args.listen,
        "workers": args.workers,
        "worker_class": "services.gateway.worker.BalancedThreadWorker",
        "threads": args.threads,
        "keepalive": 75,
        "timeout": 0,            # long object transfers are not hangs
        "graceful_timeout": 5,
        "accesslog": None,       # the app logs one JSON line per write and per error
        "loglevel": args.log_level,
        "proc_name": "aismesh-gateway",
        "preload_app": False,
        "post_fork": post_fork,
        "pre_fork": claim_slot,
        "child_exit": release_slot,
        "logger_class": JsonLogger,
        "control_socket": os.path.join(run_dir, "gunicorn.ctl"),
    }
    if args.metrics_listen:
        options.update(metrics_hooks(args.metrics_listen))
    GatewayServer(options, args.metadata.split(",")).run()


if __name__ == "__main__":
    main()
