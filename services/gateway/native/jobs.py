"""Jobs (AIS xactions): start one in the background, record its state in etcd, answer the SDK's queries.

A job runs in a thread of the gateway worker that accepted it and writes its state through the
metadata service (``PutJob``) to ``/ais/jobs/<id>``: when it starts, every ``PROGRESS_EVERY_S``
while it runs, and when it ends. Any gateway worker answers the queries (``qryxstats``,
``status``, ``status_all``, ``running_all``) from that registry, and a restarted metadata
service still knows every job. An abort is recorded by the metadata service under its own key;
the runner sees it at its next progress check and stops between objects.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc

from aismesh.cmn import errors
from aismesh.cmn.log import event
from aismesh.cmn.names import Bck
from aismesh.protos import metadata_pb2, types_pb2
from services.gateway.cluster import Cluster

log = logging.getLogger("gateway.jobs")
PROGRESS_EVERY_S = 0.5
# A running job's runner rewrites its document at least this often (a ticker thread), so a job
# whose gateway worker died is recognised: not updated for ORPHAN_AFTER_NS, it reads as failed.
HEARTBEAT_S = 5.0
ORPHAN_AFTER_NS = 30 * 1_000_000_000
ZERO_TIME = "0001-01-01T00:00:00Z"
CONTROL_TIMEOUT_S = 10.0
REPORTING_NODE = "gateway"


@dataclass
class Job:
    """One job's state as stored under /ais/jobs/<id>."""

    id: str
    kind: str
    bck: dict[str, Any] | None = None
    src_bck: dict[str, Any] | None = None
    dst_bck: dict[str, Any] | None = None
    start_ns: int = 0
    end_ns: int = 0
    objects: int = 0
    bytes: int = 0
    err: str = ""
    aborted: bool = False
    abort_requested: bool = False
    updated_ns: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_running(self) -> bool:
        return self.end_ns == 0

    def settle_orphan(self, now_ns: int) -> Job:
        """A "running" job whose runner stopped writing (its gateway worker died) as what it is: failed."""
        if self.is_running and self.updated_ns and now_ns - self.updated_ns > ORPHAN_AFTER_NS:
            self.end_ns = self.updated_ns
            self.err = "the gateway worker running this job stopped before it finished"
        return self

    def to_json(self) -> str:
        doc = asdict(self)
        doc.pop("abort_requested")
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Job:
        doc = json.loads(text)
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def snap(self) -> dict[str, Any]:
        """The JobSnap (core.Snap) the SDK and the CLI read."""
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "start-time": _rfc3339(self.start_ns),
            "end-time": _rfc3339(self.end_ns) if self.end_ns else ZERO_TIME,
            "stats": {"objects": self.objects, "bytes": self.bytes, "out_objects": self.objects,
                      "out_bytes": self.bytes, "in_objects": self.objects, "in_bytes": self.bytes},
            "aborted": self.aborted, "is_idle": not self.is_running, "abort-err": self.err if self.aborted else "",
            "err": self.err,
        }
        for key, value in (("bck", self.bck), ("src-bck", self.src_bck), ("dst-bck", self.dst_bck)):
            if value:
                out[key] = value
        return out

    def status(self) -> dict[str, Any]:
        """The JobStatus (nl.Status) of ``what=status``: end_time 0 while running."""
        return {"uuid": self.id, "kind": self.kind, "err": self.err, "end_time": self.end_ns,
                "aborted": self.aborted}


def _rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def bck_model(bck: Bck) -> dict[str, Any]:
    return {"name": bck.name, "provider": bck.provider, "namespace": {"uuid": bck.ns_uuid, "name": bck.ns_name}}


def new_id() -> str:
    # AIS job ids are short, URL-safe, and start with a letter.
    return "j" + uuidlib.uuid4().hex[:9]


class Registry:
    """The job documents, through the metadata service."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def _call(self, method: str, req: Any) -> Any:
        try:
            return getattr(self.cluster.metadata, method)(req, timeout=CONTROL_TIMEOUT_S)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e, "metadata") from None

    def put(self, job: Job) -> Job:
        job.updated_ns = time.time_ns()
        rec = self._call("PutJob", metadata_pb2.JobRecord(id=job.id, json=job.to_json()))
        return Job.from_json(rec.json)

    def request_abort(self, job_id: str) -> Job:
        rec = self._call("PutJob", metadata_pb2.JobRecord(id=job_id, json=json.dumps({"abort_requested": True})))
        return Job.from_json(rec.json)

    def get(self, job_id: str) -> Job:
        try:
            rec = self._call("GetJob", metadata_pb2.JobRequest(id=job_id))
        except errors.NotFound:
            raise errors.NotFound(f'job "{job_id}" not found') from None
        return Job.from_json(rec.json).settle_orphan(time.time_ns())

    def list(self, kind: str = "", only_running: bool = False) -> list[Job]:
        resp = self._call("ListJobs", metadata_pb2.JobRequest(kind=kind, only_running=only_running))
        now = time.time_ns()
        found = (Job.from_json(r.json).settle_orphan(now) for r in resp.jobs)
        return sorted((j for j in found if not (only_running and not j.is_running)), key=lambda j: j.start_ns)


class Aborted(Exception):
    """Raised inside a job's work when an abort was requested."""


class Progress:
    """What a job's work reports through: counts, and whether to stop."""

    def __init__(self, registry: Registry, job: Job) -> None:
        self.registry = registry
        self.job = job
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self.abort_seen = False

    def add(self, objects: int = 1, nbytes: int = 0) -> None:
        self.job.objects += objects
        self.job.bytes += nbytes
        self.check()

    def check(self) -> None:
        """Write progress at most every PROGRESS_EVERY_S; raise Aborted if an abort was requested."""
        if self.abort_seen:
            raise Aborted()
        if time.monotonic() - self._last < PROGRESS_EVERY_S:
            return
        self.write()
        if self.abort_seen:
            raise Aborted()

    def finish(self) -> None:
        """Mark the job ended; a heartbeat racing this no longer writes a "running" state."""
        with self._lock:
            self.job.end_ns = time.time_ns()

    def write(self) -> None:
        """Write the job's state now (also the heartbeat); note an abort request."""
        with self._lock:
            self._last = time.monotonic()
            if self.job.end_ns:
                return
            stored = self.registry.put(self.job)
            self.abort_seen = self.abort_seen or stored.abort_requested


Work = Callable[[Progress], None]


def start(cluster: Cluster, kind: str, work: Work, *, bck: Bck | None = None, src: Bck | None = None,
          dst: Bck | None = None, extra: dict[str, Any] | None = None, wait: bool = False) -> Job:
    """Record a new job as running and run ``work`` in a thread (or here, when ``wait``)."""
    registry = Registry(cluster)
    job = Job(id=new_id(), kind=kind, bck=bck_model(bck) if bck else None, src_bck=bck_model(src) if src else None,
              dst_bck=bck_model(dst) if dst else None, start_ns=time.time_ns(), extra=extra or {})
    registry.put(job)
    event(log, "job started", job=job.id, kind=kind)

    def run() -> None:
        progress = Progress(registry, job)
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(HEARTBEAT_S):
                try:
                    progress.write()
                except errors.AisError:
                    log.warning("job %s: heartbeat not recorded", job.id)

        threading.Thread(target=heartbeat, name=f"job-{job.id}-heartbeat", daemon=True).start()
        try:
            work(progress)
        except Aborted:
            job.aborted, job.err = True, "aborted"
        except errors.AisError as e:
            job.err = e.message
        except Exception as e:
            log.exception("job %s failed", job.id)
            job.err = f"internal error: {e}"
        done.set()
        progress.finish()
        try:
            registry.put(job)
        except errors.AisError:
            log.exception("job %s: could not record its end", job.id)
        event(log, "job finished", job=job.id, kind=kind, objects=job.objects, err=job.err, aborted=job.aborted)

    if wait:
        run()
    else:
        threading.Thread(target=run, name=f"job-{job.id}", daemon=True).start()
    return job


# --- the queries (GET /v1/cluster?what=...) and control (PUT /v1/cluster) --------------------

def _matches(job: Job, job_id: str, kind: str) -> bool:
    return (not job_id or job.id == job_id) and (not kind or job.kind == kind)


def query_stats(cluster: Cluster, args: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """``qryxstats``: {node: [JobSnap...]}; {} when nothing matches (the SDK then says JobInfoNotFound)."""
    job_id, kind = str(args.get("ID") or ""), str(args.get("Kind") or "")
    registry = Registry(cluster)
    if job_id:
        try:
            jobs = [registry.get(job_id)]
        except errors.NotFound:
            return {}
    else:
        jobs = registry.list(kind=kind, only_running=bool(args.get("OnlyRunning")))
    snaps = [j.snap() for j in jobs if _matches(j, job_id, kind)]
    return {REPORTING_NODE: snaps} if snaps else {}


def catch_up(cluster: Cluster, job: Job) -> None:
    """A finished job that changed the BMD (copy created a bucket, rename dropped one): make this
    gateway worker see that BMD before it answers, so a client that waited reads its own writes."""
    version = int(job.extra.get("bmd_version", 0) or 0)
    if job.is_running or cluster.meta.bmd.version >= version:
        return
    try:
        cluster.meta.apply_bmd(cluster.metadata.GetBMD(types_pb2.Empty(), timeout=CONTROL_TIMEOUT_S))
    except grpc.RpcError as e:
        raise errors.from_rpc_error(e, "metadata") from None


def one_status(cluster: Cluster, args: dict[str, Any]) -> dict[str, Any]:
    job_id = str(args.get("ID") or "")
    if not job_id:
        raise errors.InvalidArgument('job status: "ID" is required')
    job = Registry(cluster).get(job_id)
    catch_up(cluster, job)
    return job.status()


def all_status(cluster: Cluster, args: dict[str, Any]) -> list[dict[str, Any]]:
    kind = str(args.get("kind") or args.get("Kind") or "")
    only_running = bool(args.get("show_active"))
    return [j.status() for j in Registry(cluster).list(kind=kind, only_running=only_running)]


def running(cluster: Cluster, args: dict[str, Any]) -> list[str]:
    kind = str(args.get("kind") or args.get("Kind") or "")
    return [f"{j.kind}[{j.id}]" for j in Registry(cluster).list(kind=kind, only_running=True)]


def abort(cluster: Cluster, args: dict[str, Any]) -> None:
    """``stop``: abort the job with that id, or every running job of that kind."""
    job_id, kind = str(args.get("ID") or ""), str(args.get("Kind") or "")
    registry = Registry(cluster)
    if job_id:
        job = registry.get(job_id)
        if job.is_running:
            registry.request_abort(job_id)
        return
    if not kind:
        raise errors.InvalidArgument('stop: a job "ID" or "Kind" is required')
    for job in registry.list(kind=kind, only_running=True):
        registry.request_abort(job.id)
