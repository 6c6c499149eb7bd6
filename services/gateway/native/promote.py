"""AIS native API: ``promote`` (files the cluster can see become objects) and ``blob-download``.

Both are ``POST /v1/objects/<bucket>`` with an ActMsg, as AIStore's api.Promote and api.BlobDownload send them.
Promote (``{"action": "promote", "name": <path>, "value": PromoteArgs}``):
AIStore's targets read a file or directory from their own file system. aismesh's storage nodes
share the gateway's host in the default layout, so the gateway reads the files and PUTs them
through the normal write path (HRW, checksums, write-through for remote buckets). Only paths
under the allowed roots are read: ``AISMESH_PROMOTE_ROOTS`` (``:``-separated), by default
AIStore's ``/var/lib/ais/promote``; symbolic links are refused, as AIStore refuses them.
A single file is promoted at once (the answer is empty, as AIStore's); a directory is a
``promote`` job whose id is the answer.

Blob download (``{"action": "blob-download", "name": <object>, "value": BlobMsg}``): a job that
brings one large remote object into the cluster through the storage node's cold GET (one
streamed fetch; ``chunk-size`` and ``num-workers`` are validated and recorded, not used to split
the fetch). ais:// buckets have nothing remote to fetch: refused.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Response

from aismesh.cmn import errors
from services.gateway import remote
from services.gateway.cluster import Cluster
from services.gateway.metasync import BucketEntry
from services.gateway.native import jobs
from services.gateway.native.common import action_msg, bck_from_query, cluster, msg_value, str_field

DEFAULT_ROOT = "/var/lib/ais/promote"  # apc.PromoteRoot
CHUNK = 1 << 20
MIN_BLOB_CHUNK, MAX_BLOB_CHUNK = 4 << 10, 16 << 30  # AIStore's blob downloader bounds
MAX_BLOB_WORKERS = 128


def allowed_roots() -> list[str]:
    raw = os.environ.get("AISMESH_PROMOTE_ROOTS", DEFAULT_ROOT)
    return [os.path.realpath(r) for r in raw.split(os.pathsep) if r.strip()]


@dataclass(frozen=True)
class PromoteArgs:
    """apc.PromoteArgs as the SDK sends it: src, obj (name or prefix), rcr, ovw, dls."""

    src: str
    obj: str = ""
    recursive: bool = False
    overwrite: bool = False
    delete_source: bool = False

    @classmethod
    def from_msg(cls, msg: dict[str, Any]) -> PromoteArgs:
        value = msg_value(msg, "promote message")
        src = value.get("src") or msg.get("name") or ""
        obj = value.get("obj") or ""
        if not isinstance(src, str) or not src:
            raise errors.InvalidArgument('invalid promote message: "src" (the file or directory) is required')
        if not isinstance(obj, str):
            raise errors.InvalidArgument('invalid promote message: "obj" must be a string')
        return cls(src=src, obj=obj, recursive=bool(value.get("rcr")), overwrite=bool(value.get("ovw")),
                   delete_source=bool(value.get("dls")))


def checked_source(src: str, roots: list[str]) -> str:
    """The source path if it may be promoted: absolute, existing, readable, no symlink, under a root."""
    if not os.path.isabs(src):
        raise errors.InvalidArgument(f'promote: source "{src}" must be an absolute path')
    real = os.path.realpath(src)
    if not any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots):
        raise errors.AccessDenied(f'promote: "{src}" is outside the promote roots ({", ".join(roots)}; '
                                  "set AISMESH_PROMOTE_ROOTS on the gateway)")
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        raise errors.NotFound(f'promote: "{src}" does not exist') from None
    except OSError as e:
        raise errors.AccessDenied(f'promote: "{src}": {e.strerror}') from None
    if stat.S_ISLNK(st.st_mode):  # (a link on the way is fine once the resolved path is under a root)
        raise errors.InvalidArgument(f'promote: "{src}" is a symbolic link; not supported')
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise errors.InvalidArgument(f'promote: "{src}" is neither a regular file nor a directory')
    if not os.access(src, os.R_OK | (os.X_OK if stat.S_ISDIR(st.st_mode) else 0)):
        raise errors.AccessDenied(f'promote: "{src}" is not readable by the cluster')
    return src


def object_name(obj: str, rel: str) -> str:
    """A file's object name: ``obj`` names it, or (ending in "/", or for a directory) prefixes it."""
    if not obj:
        return rel
    return obj + rel if obj.endswith("/") else obj


def files_under(root: str, recursive: bool) -> Iterator[tuple[str, str]]:
    """(path, name relative to root) of the regular files, sorted; symlinks are skipped."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))) if recursive else []
        for f in sorted(filenames):
            path = os.path.join(dirpath, f)
            if os.path.isfile(path) and not os.path.islink(path):
                yield path, os.path.relpath(path, root)


def _read(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def promote_file(c: Cluster, entry: BucketEntry, path: str, name: str, args: PromoteArgs) -> int:
    """PUT one file as ``name``; 0 when it exists and overwrite is off. Answers the bytes written."""
    if not args.overwrite:
        try:
            c.head_object(entry, name)
            return 0
        except errors.NotFound:
            pass
    try:
        size = os.path.getsize(path)
        c.put_object(entry, name, _read(path), size=size)
    except PermissionError:
        raise errors.AccessDenied(f'promote: "{path}" is not readable by the cluster') from None
    if args.delete_source:
        os.remove(path)
    return size


def promote(entry: BucketEntry, msg: dict[str, Any]) -> Response:
    args = PromoteArgs.from_msg(msg)
    src = checked_source(args.src, allowed_roots())
    c = cluster()
    if os.path.isfile(src):
        name = object_name(args.obj, os.path.basename(src)) if args.obj.endswith("/") or not args.obj else args.obj
        promote_file(c, entry, src, name, args)
        return Response(b"", status=200, content_type="text/plain")
    prefix = args.obj if not args.obj or args.obj.endswith("/") else args.obj + "/"

    def work(p: jobs.Progress) -> None:
        for path, rel in files_under(src, args.recursive):
            p.check()
            nbytes = promote_file(c, entry, path, prefix + rel, args)
            p.add(1, nbytes)

    job = jobs.start(c, "promote", work, bck=entry.bck, extra={"src": src})
    return Response(job.id, status=200, content_type="text/plain")


def _int_opt(value: dict[str, Any], key: str, low: int, high: int) -> int:
    raw = value.get(key, 0) or 0
    if not isinstance(raw, int) or isinstance(raw, bool) or (raw and not low <= raw <= high):
        raise errors.InvalidArgument(f'invalid blob-download message: "{key}" {raw!r} must be an integer '
                                     f"in [{low}, {high}]")
    return raw


def blob_download(entry: BucketEntry, msg: dict[str, Any]) -> Response:
    name = msg.get("name") or ""
    if not isinstance(name, str) or not name:
        raise errors.InvalidArgument('invalid blob-download message: "name" (the object) is required')
    if not entry.bck.is_remote:
        raise errors.InvalidArgument(f"blob-download: {entry.bck.display()} is an ais:// bucket; blob download "
                                     "fetches objects from remote buckets only")
    value = msg_value(msg, "blob-download message") or {}
    chunk = _int_opt(value, "chunk-size", MIN_BLOB_CHUNK, MAX_BLOB_CHUNK)
    workers = _int_opt(value, "num-workers", 1, MAX_BLOB_WORKERS)
    latest = bool(value.get("latest-ver"))
    c = cluster()
    c.head_object(entry, name)  # a missing object is a 404 now, not a job that fails later

    def work(p: jobs.Progress) -> None:
        remote.prefetch(c, entry, [name], latest=latest)
        p.add(1, c.head_object(entry, name).size)

    job = jobs.start(c, "blob-download", work, bck=entry.bck,
                     extra={"object": name, "chunk-size": chunk, "num-workers": workers})
    return Response(job.id, status=200, content_type="text/plain")


ACTIONS = {"promote": promote, "blob-download": blob_download}


def bucket_action(bucket: str) -> Response:
    """POST /v1/objects/<bucket> with an ActMsg: ``promote`` or ``blob-download`` (as AIStore routes them)."""
    msg = action_msg()
    action = str_field(msg, "action", "ActMsg")
    handler = ACTIONS.get(action)
    if handler is None:
        raise errors.InvalidArgument(f'invalid request: POST /v1/objects/{bucket} with action "{action}" '
                                     f"(expected one of {', '.join(sorted(ACTIONS))})")
    return handler(cluster().bucket(bck_from_query(bucket)), msg)
