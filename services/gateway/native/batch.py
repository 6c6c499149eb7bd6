"""AIS native API: the batch GET (``GET /v1/ml/moss[/<bucket>]``, "MOSS"): many objects, archived files
and byte ranges in one answer, as one tar/tgz/zip.

Request: MossReq JSON (``in``: [{objname, bucket, provider, archpath, start, length, opaque}],
``mime``, ``coer``, ``onob``, ``strm``). Answer with ``strm``: the archive alone; without it:
``multipart/mixed``, part 1 the MossResp JSON (``out``: one entry an input, in order), part 2
the archive. With ``coer`` (continue on error) a missing object becomes an empty member under
``__404__/`` and its ``err_msg``; without it the first missing object fails the request (404).
The archive is built in a temporary file (in memory up to 16 MiB) before it is sent.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, request

from aismesh.cmn import errors
from aismesh.cmn.names import Bck, normalize_provider
from aismesh.cmn.ranges import ByteRange
from services.gateway.native import archive
from services.gateway.native.common import action_msg, cluster

bp = Blueprint("native_batch", __name__)
MISSING_DIR = "__404__"
MAX_ENTRIES = 100_000
_FORMATS = {".tar": "tar", "tar": "tar", ".tgz": "tgz", "tgz": "tgz", ".tar.gz": "tgz", ".zip": "zip", "zip": "zip",
            ".tar.lz4": "tar.lz4", "tar.lz4": "tar.lz4", "": "tar"}
_MIME = {"tar": "application/x-tar", "tgz": "application/gzip", "zip": "application/zip",
         "tar.lz4": "application/x-lz4"}


@dataclass(frozen=True)
class Item:
    obj_name: str
    bucket: str
    provider: str
    archpath: str = ""
    start: int = 0
    length: int = 0
    opaque: str = ""


def _int(raw: Any, what: str) -> int:
    if raw is None:
        return 0
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise errors.InvalidArgument(f'invalid batch request: "{what}" must be a non-negative integer')
    return raw


def parse_request(doc: dict[str, Any], default_bucket: str, default_provider: str) -> tuple[list[Item], str]:
    """The items and the archive format of a MossReq; refuses what is malformed, naming it."""
    raw_in = doc.get("in")
    if not isinstance(raw_in, list) or not raw_in:
        raise errors.InvalidArgument('invalid batch request: "in" must be a non-empty list of objects')
    if len(raw_in) > MAX_ENTRIES:
        raise errors.InvalidArgument(f"invalid batch request: at most {MAX_ENTRIES} entries")
    mime = doc.get("mime") or ""
    fmt = _FORMATS.get(str(mime).lower())
    if fmt is None:
        raise errors.InvalidArgument(f'invalid batch request: "mime" "{mime}": expected .tar, .tgz or .zip')
    items = []
    for i, e in enumerate(raw_in):
        if not isinstance(e, dict) or not isinstance(e.get("objname"), str) or not e["objname"]:
            raise errors.InvalidArgument(f'invalid batch request: entry {i} needs an "objname"')
        bucket = e.get("bucket") or default_bucket
        if not isinstance(bucket, str) or not bucket:
            raise errors.InvalidArgument(f'invalid batch request: entry {i} ("{e["objname"]}") names no bucket')
        items.append(Item(obj_name=e["objname"], bucket=bucket,
                          provider=normalize_provider(str(e.get("provider") or default_provider or "ais")),
                          archpath=str(e.get("archpath") or ""), start=_int(e.get("start"), "start"),
                          length=_int(e.get("length"), "length"), opaque=str(e.get("opaque") or "")))
    return items, fmt


def _read(item: Item) -> bytes:
    c = cluster()
    entry = c.bucket(Bck(name=item.bucket, provider=item.provider))
    if item.archpath:
        fmt = archive.format_of(item.obj_name)
        if not fmt:
            raise errors.InvalidArgument(f"{entry.bck.display()}/{item.obj_name} is not an archive")
        with archive.spool(c, entry, item.obj_name) as f:
            data = archive.extract(f, fmt, item.archpath)
        if data is None:
            raise errors.NotFound(f"{entry.bck.display()}/{item.obj_name}/{item.archpath} does not exist")
        return data
    rng = None
    if item.start or item.length:
        rng = ByteRange(start=item.start, end=item.start + item.length - 1 if item.length else None)
    result = c.get_object(entry, item.obj_name, rng)
    try:
        return b"".join(result.chunks)
    finally:
        result.cancel()


def _member(item: Item, only_name: bool) -> str:
    name = item.obj_name if only_name else f"{item.bucket}/{item.obj_name}"
    return f"{name}/{item.archpath}" if item.archpath else name


@bp.route("/v1/ml/moss", methods=["GET"], strict_slashes=False)
@bp.route("/v1/ml/moss/<bucket>", methods=["GET"])
def batch_get(bucket: str = "") -> Response:
    doc = action_msg()
    items, fmt = parse_request(doc, bucket, request.args.get("provider", "ais"))
    continue_on_err, only_name, streaming = bool(doc.get("coer")), bool(doc.get("onob")), bool(doc.get("strm"))
    files: list[tuple[str, bytes]] = []
    out: list[dict[str, Any]] = []
    for item in items:
        try:
            data = _read(item)
            err = ""
        except (errors.NotFound, errors.RangeNotSatisfiable) as e:
            if not continue_on_err:
                raise
            data, err = b"", e.message
        files.append((f"{MISSING_DIR}/{_member(item, only_name)}" if err else _member(item, only_name), data))
        entry: dict[str, Any] = {"objname": item.obj_name, "bucket": item.bucket, "provider": item.provider,
                                 "size": len(data)}
        if item.archpath:
            entry["archpath"] = item.archpath
        if item.opaque:
            entry["opaque"] = item.opaque
        if err:
            entry["err_msg"] = err
        out.append(entry)
    with tempfile.SpooledTemporaryFile(max_size=archive.SPOOL_IN_MEMORY) as f:
        archive.write_shard(f, fmt, files)
        f.seek(0)
        shard = f.read()
    if streaming:
        return Response(shard, status=200, content_type=_MIME[fmt])
    boundary = base64.b32encode(os.urandom(10)).decode().rstrip("=")
    meta = json.dumps({"out": out, "uuid": "b" + os.urandom(5).hex()}).encode()
    body = (f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode() + meta
            + f"\r\n--{boundary}\r\nContent-Type: {_MIME[fmt]}\r\n\r\n".encode() + shard
            + f"\r\n--{boundary}--\r\n".encode())
    return Response(body, status=200, content_type=f"multipart/mixed; boundary={boundary}")
