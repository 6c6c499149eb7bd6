"""The job registry (AIS xactions): one JSON document a job under /ais/jobs/<id>.

The gateway that runs a job writes its state here as it goes (started, progress, finished,
aborted); any gateway worker, and a restarted metadata service, reads it back from etcd.
A job document is written whole by the one gateway running it, so no transaction is needed;
an abort request is a separate key (``/ais/jobs-abort/<id>``) so it never races a progress write.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aismesh.cmn import errors
from aismesh.protos import metadata_pb2
from services.metadata.etcdstore import EtcdStore

JOBS_PREFIX = "/ais/jobs/"
# Finished jobs are kept this long (then dropped when jobs are next listed), as AIS keeps a bounded history.
RETENTION_NS = 24 * 3600 * 1_000_000_000
ABORT_PREFIX = "/ais/jobs-abort/"
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _check_id(job_id: str) -> None:
    if not job_id or len(job_id) > 64 or not set(job_id) <= _ID_CHARS:
        raise errors.InvalidArgument(f'invalid job id "{job_id[:64]}": letters, digits, "-" and "_" only')


def _doc(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise errors.InvalidArgument(f"invalid job JSON: {e}") from None
    if not isinstance(doc, dict):
        raise errors.InvalidArgument("a job must be a JSON object")
    return doc


def _record(job_id: str, doc: dict[str, Any], store: EtcdStore) -> metadata_pb2.JobRecord:
    if store.exists(ABORT_PREFIX + job_id):
        doc["abort_requested"] = True
    return metadata_pb2.JobRecord(id=job_id, json=json.dumps(doc, sort_keys=True))


class JobsServicer:
    """Mixed into MetadataServicer: PutJob, GetJob, ListJobs over ``self.store``."""

    store: EtcdStore

    @errors.servicer_guard
    def PutJob(self, request: metadata_pb2.JobRecord, context: Any) -> metadata_pb2.JobRecord:
        _check_id(request.id)
        doc = _doc(request.json)
        if doc.pop("abort_requested", False):
            # A request to abort: its own key, so the runner's next progress write does not erase it.
            self.store.put(ABORT_PREFIX + request.id, "1")
            current, _ = self.store.read(JOBS_PREFIX + request.id)
            if current is None:
                raise errors.NotFound(f'job "{request.id}" does not exist')
            return _record(request.id, current, self.store)
        doc["id"] = request.id
        self.store.put(JOBS_PREFIX + request.id, json.dumps(doc, sort_keys=True))
        return _record(request.id, doc, self.store)

    @errors.servicer_guard
    def GetJob(self, request: metadata_pb2.JobRequest, context: Any) -> metadata_pb2.JobRecord:
        _check_id(request.id)
        doc, _ = self.store.read(JOBS_PREFIX + request.id)
        if doc is None:
            raise errors.NotFound(f'job "{request.id}" does not exist')
        return _record(request.id, doc, self.store)

    @errors.servicer_guard
    def ListJobs(self, request: metadata_pb2.JobRequest, context: Any) -> metadata_pb2.JobList:
        out = metadata_pb2.JobList()
        for key in sorted(self.store.keys_with_prefix(JOBS_PREFIX)):
            doc, _ = self.store.read(key)
            if doc is None:
                continue
            if doc.get("end_ns") and time.time_ns() - int(doc["end_ns"]) > RETENTION_NS:
                self.store.delete(key)
                self.store.delete(ABORT_PREFIX + key[len(JOBS_PREFIX):])
                continue
            if request.kind and doc.get("kind") != request.kind:
                continue
            if request.only_running and doc.get("end_ns"):
                continue
            out.jobs.append(_record(key[len(JOBS_PREFIX):], doc, self.store))
        return out
