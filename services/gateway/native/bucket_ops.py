"""AIS native API: bucket actions beyond CRUD and listing (the ``ACTIONS`` table, by method and action).

HEAD with props and the summary protocol of ``info()``; PATCH ``set-bprops``/``reset-bprops``;
``copy-bck`` and ``move-bck`` (jobs); ``summary-bck`` (a job); the multi-object operations
``delete-listrange`` and ``copy-listrange`` (jobs); ``evict-*``/``prefetch-*`` answer that they
need a backend adapter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import grpc
from flask import Response, request

from aismesh.cmn import errors, props
from aismesh.cmn.names import Bck, ais_bucket_name_error, normalize_provider, parse_namespace
from aismesh.protos import metadata_pb2, types_pb2
from services.gateway import remote
from services.gateway.metasync import BucketEntry
from services.gateway.native import archive, jobs, xactions
from services.gateway.native.common import cluster, flag, msg_value, str_field

Handler = Callable[[BucketEntry, dict[str, Any]], Response]
KIND_SUMMARY = "summary"


def _text(job_id: str, status: int = 200) -> Response:
    return Response(job_id, status=status, content_type="text/plain")


def props_doc(entry: BucketEntry) -> dict[str, Any]:
    """The bucket's props as AIS shows them: every default section, bid and created as strings."""
    doc = props.with_defaults(entry.props)
    doc.setdefault("bid", str(entry.bid))
    doc.setdefault("created", str(entry.created_ns))
    return doc


def head(entry: BucketEntry, prefix: str) -> Response:
    """HEAD bucket: props in ``Ais-Bucket-Props``; with ``bsumm_remote`` the ``info()`` summary protocol:
    202 and ``Ais-Xaction-Id`` first, then (``uuid=<id>``) 202 while the job runs and 200 with
    ``Ais-Bucket-Summ`` once it is done."""
    doc = props_doc(entry)
    headers = {"Ais-Bucket-Props": json.dumps(doc), **remote.remote_cluster_headers(cluster(), entry)}
    unenforced = props.not_enforced(doc)
    if unenforced:
        headers["Ais-Props-Not-Enforced"] = ",".join(unenforced)
    if not flag("bsumm_remote"):
        return Response(b"", status=200, headers=headers)
    job_id = request.args.get("uuid", "")
    if not job_id:
        job = _start_summary(entry, prefix)
        headers["Ais-Xaction-Id"] = job.id
        return Response(b"", status=202, headers=headers)
    job = jobs.Registry(cluster()).get(job_id)
    headers["Ais-Xaction-Id"] = job.id
    if job.is_running:
        return Response(b"", status=202, headers=headers)
    if job.err:
        raise errors.InvalidArgument(f"bucket summary {job.id} failed: {job.err}")
    headers["Ais-Bucket-Summ"] = json.dumps(job.extra.get("summary", {}))
    return Response(b"", status=200, headers=headers)


def _start_summary(entry: BucketEntry, prefix: str) -> jobs.Job:
    c = cluster()
    extra: dict[str, Any] = {"prefix": prefix}

    def work(progress: jobs.Progress) -> None:
        summ = xactions.summary(c, entry, prefix)
        extra["summary"] = summ
        progress.add(int(summ["ObjCount"]["obj_count_present"]), int(summ["TotalSize"]["size_all_present_objs"]))

    return jobs.start(c, KIND_SUMMARY, work, bck=entry.bck, extra=extra)


def summary(entry: BucketEntry, msg: dict[str, Any]) -> Response:
    """GET ``summary-bck``: 202 with the job id first; polled with ``value.uuid``: 202, then 200 and [BsummResult]."""
    value = msg_value(msg, "summary-bck message")
    job_id = str_field(value, "uuid", "summary-bck message")
    if not job_id:
        job = _start_summary(entry, str_field(value, "prefix", "summary-bck message"))
        return _text(job.id, 202)
    job = jobs.Registry(cluster()).get(job_id)
    if job.is_running:
        return _text(job.id, 202)
    if job.err:
        raise errors.InvalidArgument(f"bucket summary {job.id} failed: {job.err}")
    return Response(json.dumps([job.extra.get("summary", {})]), status=200, content_type="application/json")


def set_props(entry: BucketEntry, msg: dict[str, Any], reset: bool = False) -> Response:
    """PATCH ``set-bprops`` (partial props) or ``reset-bprops`` (back to the cluster defaults)."""
    value = {} if reset else msg_value(msg, "set-bprops message")
    if not reset and not value:
        raise errors.InvalidArgument('set-bprops: "value" must name at least one property')
    c = cluster()
    remote.check_backend_bck(c, value)  # a backend_bck must exist at its backend
    req = metadata_pb2.SetBucketPropsRequest(bck=entry.bck.to_proto(), props_json=json.dumps(value), reset=reset)
    try:
        info = c.metadata.SetBucketProps(req, timeout=jobs.CONTROL_TIMEOUT_S)
        if c.meta.bmd.version < info.bmd_version:
            c.meta.apply_bmd(c.metadata.GetBMD(types_pb2.Empty(), timeout=jobs.CONTROL_TIMEOUT_S))
    except grpc.RpcError as e:
        raise errors.from_rpc_error(e, "metadata") from None
    return Response(b"", status=200)


def _bck_to() -> Bck:
    """The ``bck_to`` query: a bucket uname ``provider/@uuid#ns/name/`` (or ``provider://name``)."""
    raw = unquote(request.args.get("bck_to", "")).strip()
    if not raw:
        raise errors.InvalidArgument('the destination bucket ("bck_to") is missing')
    return _bck_from_text(raw, "bck_to")


def _bck_from_text(raw: str, what: str) -> Bck:
    if "://" in raw:
        scheme, _, rest = raw.partition("://")
        ns, _, name = rest.rpartition("/")
        uuid, ns_name = parse_namespace(ns) if ns else ("", "")
        return Bck(name=name, provider=normalize_provider(scheme), ns_uuid=uuid, ns_name=ns_name)
    parts = raw.strip("/").split("/")
    if len(parts) != 3 or not parts[2]:
        raise errors.InvalidArgument(f'invalid {what} "{raw}": expected provider/@uuid#namespace/name/')
    uuid, ns_name = parse_namespace(parts[1])
    return Bck(name=parts[2], provider=normalize_provider(parts[0]), ns_uuid=uuid, ns_name=ns_name)


def _model_bck(value: Any, what: str) -> Bck:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        raise errors.InvalidArgument(f'invalid {what}: "tobck" must be a bucket {{"name", "provider"}}')
    ns = value.get("namespace") or {}
    return Bck(name=value["name"], provider=normalize_provider(str(value.get("provider") or "ais")),
               ns_uuid=str(ns.get("uuid") or ""), ns_name=str(ns.get("name") or ""))


def _check_new_name(dst: Bck) -> None:
    """Refuse a destination the job could not create, before the job starts."""
    if dst.provider == "ais" and not dst.ns_uuid:
        problem = ais_bucket_name_error(dst.name)
        if problem:
            raise errors.InvalidArgument(problem)


def copy_bucket(entry: BucketEntry, msg: dict[str, Any]) -> Response:
    dst = _bck_to()
    if dst.uname == entry.bck.uname:
        raise errors.InvalidArgument(f"cannot copy {entry.bck.display()} onto itself")
    _check_new_name(dst)
    opts = xactions.CopyOptions.from_msg(msg_value(msg, "copy-bck message"))
    c = cluster()
    job = jobs.start(c, "copy-bck", lambda p: xactions.copy_bucket(c, entry, dst, opts, p),
                     src=entry.bck, dst=dst, extra={"dry_run": opts.dry_run, "prefix": opts.prefix})
    return _text(job.id)


def rename_bucket(entry: BucketEntry, msg: dict[str, Any]) -> Response:
    dst = _bck_to()
    if entry.bck.is_remote or dst.is_remote:
        raise errors.InvalidArgument(f"cannot rename {entry.bck.display()}: only ais:// buckets can be renamed")
    if dst.uname == entry.bck.uname:
        raise errors.InvalidArgument(f"cannot rename {entry.bck.display()} to itself")
    _check_new_name(dst)
    c = cluster()
    try:
        c.bucket(dst)
    except errors.NotFound:
        pass
    else:
        raise errors.AlreadyExists(f'bucket "{dst.display()}" already exists')
    job = jobs.start(c, "move-bck", lambda p: xactions.rename_bucket(c, entry, dst, p), src=entry.bck, dst=dst)
    return _text(job.id)


def delete_objects(entry: BucketEntry, msg: dict[str, Any]) -> Response:
    sel = xactions.Selection.from_msg(msg_value(msg, "delete-listrange message"), "delete-listrange")
    c = cluster()
    job = jobs.start(c, "delete-listrange", lambda p: xactions.delete_objects(c, entry, sel, p), bck=entry.bck)
    return _text(job.id)


def copy_objects(entry: BucketEntry, msg: dict[str, Any]) -> Response:
    value = msg_value(msg, "copy-listrange message")
    sel = xactions.Selection.from_msg(value, "copy-listrange")
    dst = _model_bck(value.get("tobck"), "copy-listrange message")
    _check_new_name(dst)
    opts = xactions.CopyOptions.from_msg(value)
    c = cluster()
    job = jobs.start(c, "copy-listrange", lambda p: xactions.copy_objects(c, entry, sel, dst, opts, p),
                     src=entry.bck, dst=dst)
    return _text(job.id)


def archive_objects(entry: BucketEntry, msg: dict[str, Any]) -> Response:
    """PUT ``archive``: the selected objects into one new tar/tgz/zip shard (an ``archive`` job)."""
    value = msg_value(msg, "archive message")
    sel = xactions.Selection.from_msg(value, "archive")
    name = str_field(value, "archname", "archive message")
    fmt = archive.format_of(name)
    if not fmt:
        raise errors.InvalidArgument(f'invalid archive message: "archname" "{name}" must end with one of '
                                     f"{', '.join(sorted(archive.FORMATS))}")
    dst = _model_bck(value["tobck"], "archive message") if value.get("tobck") else entry.bck
    opts = xactions.ShardOptions(name=name, fmt=fmt, include_bucket=bool(value.get("isbn")),
                                 append=bool(value.get("aate")), continue_on_err=bool(value.get("coer")))
    c = cluster()
    job = jobs.start(c, "archive", lambda p: xactions.archive_objects(c, entry, sel, dst, opts, p),
                     src=entry.bck, dst=dst)
    return _text(job.id)


def _remote_only(entry: BucketEntry, action: str) -> None:
    if not entry.bck.is_remote:
        raise errors.InvalidArgument(f'{action}: {entry.bck.display()} is an ais:// bucket; '
                                     "evict and prefetch apply to remote buckets only")


def evict_remote_bucket(entry: BucketEntry, msg: dict[str, Any]) -> Response:
    """Drop every cached object (and, unless keep_bck_md, the BMD entry); the remote keeps its data."""
    _remote_only(entry, "evict-remote-bck")
    remote.evict_bucket(cluster(), entry, keep_md=flag("keep_bck_md"))
    return Response(b"", status=200)


def evict_objects(entry: BucketEntry, msg: dict[str, Any]) -> Response:
    _remote_only(entry, "evict-listrange")
    sel = xactions.Selection.from_msg(msg_value(msg, "evict-listrange message"), "evict-listrange")
    c = cluster()
    job = jobs.start(c, "evict-listrange", lambda p: p.add(remote.evict_objects(c, entry, sel.resolve(c, entry))),
                     bck=entry.bck)
    return _text(job.id)


def prefetch_objects(entry: BucketEntry, msg: dict[str, Any]) -> Response:
    _remote_only(entry, "prefetch-listrange")
    value = msg_value(msg, "prefetch-listrange message")
    sel = xactions.Selection.from_msg(value, "prefetch-listrange")
    latest, coer = bool(value.get("latest-ver")), bool(value.get("coer"))
    threshold = value.get("blob-threshold", 0) or 0
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 0:
        raise errors.InvalidArgument(f'invalid prefetch-listrange message: "blob-threshold" {threshold!r} must be a '
                                     "non-negative integer (bytes)")
    c = cluster()

    def work(p: jobs.Progress) -> None:
        if not coer:
            p.add(remote.prefetch(c, entry, sel.resolve(c, entry), latest=latest))
            return
        for name in sel.resolve(c, entry):  # one at a time, so that one missing object skips only itself
            p.check()
            try:
                p.add(remote.prefetch(c, entry, [name], latest=latest))
            except errors.NotFound:
                continue

    # blob-threshold: every object comes through the same cold GET (blob download is that too); validated only.
    job = jobs.start(c, "prefetch-listrange", work, bck=entry.bck)
    return _text(job.id)


def not_yet(entry: BucketEntry, msg: dict[str, Any]) -> Response:
    raise errors.InvalidArgument(f'{request.method} {entry.bck.display()} with action "{msg.get("action", "")}" '
                                 "is not supported by aismesh yet")


ACTIONS: dict[tuple[str, str], Handler] = {
    ("PATCH", "set-bprops"): set_props,
    ("PATCH", "reset-bprops"): lambda e, m: set_props(e, m, reset=True),
    ("POST", "copy-bck"): copy_bucket,
    ("POST", "move-bck"): rename_bucket,
    ("GET", "summary-bck"): summary,
    ("DELETE", "delete-listrange"): delete_objects,
    ("POST", "copy-listrange"): copy_objects,
    ("DELETE", "evict-listrange"): evict_objects,
    ("DELETE", "evict-remote-bck"): evict_remote_bucket,
    ("POST", "prefetch-listrange"): prefetch_objects,
    ("PUT", "archive"): archive_objects,
    ("POST", "etl-bck"): not_yet,
    ("POST", "etl-listrange"): not_yet,
}
