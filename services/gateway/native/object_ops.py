"""AIS native API: object copy (``PUT ?object_to=<uname>``), custom metadata (``PATCH``), append
(``PUT ?append_type=append|flush``), reads from archives (``GET ?archpath=|archregx=``) and writes
into them (``PUT ?archpath=``).

Both are built on the Cluster's public get/put: a storage node has no metadata-only update yet,
so setting custom metadata rewrites the object with the same bytes (its version counts up, as
after any PUT in a versioned bucket). Append works the same way: each append rewrites the object
with the new bytes at its end, so appended bytes are visible at once (AIS shows them at flush).
"""

from __future__ import annotations

import tempfile
import uuid as uuidlib
from collections.abc import Iterator

from flask import Response, request

from aismesh.cmn import errors
from aismesh.cmn.names import Bck, normalize_provider, parse_namespace
from services.gateway.metasync import BucketEntry
from services.gateway.native import archive, xactions
from services.gateway.native.common import action_msg, cluster, flag, msg_value


def parse_object_uname(uname: str) -> tuple[Bck, str]:
    """``provider/@uuid#ns/bucket/object`` -> (bucket, object name)."""
    parts = uname.split("/", 3)
    if len(parts) != 4 or not parts[2] or not parts[3]:
        raise errors.InvalidArgument(f'invalid object_to "{uname}": expected provider/@uuid#namespace/bucket/object')
    uuid, ns = parse_namespace(parts[1])
    return Bck(name=parts[2], provider=normalize_provider(parts[0]), ns_uuid=uuid, ns_name=ns), parts[3]


def copy_object(entry: BucketEntry, name: str, object_to: str) -> Response:
    dst_bck, dst_name = parse_object_uname(object_to)
    c = cluster()
    dst = c.bucket(dst_bck)
    if dst.bck.uname == entry.bck.uname and dst_name == name:
        raise errors.InvalidArgument(f"cannot copy {entry.bck.display()}/{name} onto itself")
    xactions.copy_one(c, entry, name, dst, dst_name)
    return Response(b"", status=200)


def set_custom(entry: BucketEntry, name: str) -> Response:
    """Merge (or, with ``set-new-custom=true``, replace) the object's custom metadata."""
    value = msg_value(action_msg(), "custom metadata")
    bad = [k for k, v in value.items() if not isinstance(v, str) or not k or "," in k + v or "=" in k]
    if bad:
        raise errors.InvalidArgument(f'invalid custom metadata "{bad[0]}": keys and values must be strings without '
                                     '"," (and keys without "=")')
    c = cluster()
    result = c.get_object(entry, name)
    try:
        custom = {} if flag("set-new-custom") else dict(result.attrs.custom)
        custom.update(value)
        c.put_object(entry, name, result.chunks, size=result.attrs.size, content_type=result.attrs.content_type,
                     custom=custom)
    finally:
        result.cancel()
    return Response(b"", status=200)


def get_from_archive(entry: BucketEntry, name: str) -> Response:
    """GET ``?archpath=<file>`` (one file of a tar/tgz/zip object) or ``?archregx=<pattern>&archmode=<mode>``
    (the matching files, as a tar)."""
    fmt = archive.format_of(name)
    if not fmt:
        raise errors.InvalidArgument(f"{entry.bck.display()}/{name} is not an archive "
                                     f"(supported: {', '.join(sorted(archive.FORMATS))})")
    if request.headers.get("Range"):
        raise errors.RangeNotSatisfiable("a range read of a file in an archive is not supported", object_size=0)
    path, pattern = request.args.get("archpath", ""), request.args.get("archregx", "")
    if path and pattern:
        raise errors.InvalidArgument('give "archpath" or "archregx", not both')
    f = archive.spool(cluster(), entry, name)
    with f:
        if pattern:
            data = archive.select(f, fmt, pattern, request.args.get("archmode", "regexp") or "regexp")
            return Response(data, status=200, content_type="application/x-tar")
        data_or_none = archive.extract(f, fmt, path)
    if data_or_none is None:
        raise errors.NotFound(f"{entry.bck.display()}/{name}/{path} does not exist (no such file in the archive)")
    return Response(data_or_none, status=200, content_type="application/octet-stream",
                    headers={"Content-Length": str(len(data_or_none))})


MAX_APPEND = 256 << 20


def append(entry: BucketEntry, name: str, append_type: str) -> Response:
    """Append the body to the object (created when missing); ``flush`` appends its body too and ends.
    The handle is opaque to the client and echoed back in ``Ais-Append-Handle``."""
    if append_type not in ("append", "flush"):
        raise errors.InvalidArgument(f'invalid append_type "{append_type}": expected append or flush')
    length = request.content_length or 0
    if length > MAX_APPEND:
        raise errors.InvalidArgument(f"append of {length} bytes: at most {MAX_APPEND} bytes per append")
    added = request.get_data(cache=False) if length else b""
    c = cluster()
    handle = request.args.get("append_handle", "") or f"h{uuidlib.uuid4().hex[:12]}"
    if append_type == "flush" and not added:
        c.head_object(entry, name)  # a flush of nothing: the object must exist
        return Response(b"", status=200, headers={"Ais-Append-Handle": handle})
    try:
        result = c.get_object(entry, name)
    except errors.NotFound:
        c.put_object(entry, name, iter((added,)), size=len(added))
    else:
        try:
            size = result.attrs.size + len(added)
            c.put_object(entry, name, _then(result.chunks, added), size=size,
                         content_type=result.attrs.content_type, custom=dict(result.attrs.custom))
        finally:
            result.cancel()
    return Response(b"", status=200, headers={"Ais-Append-Handle": handle})


def _then(chunks: Iterator[bytes], tail: bytes) -> Iterator[bytes]:
    yield from chunks
    if tail:
        yield tail


ARCH_APPEND, ARCH_APPEND_IF_EXIST = 1, 2  # apc.ArchAppend, apc.ArchAppendIfExist (header Ais-Pine)


def put_apnd_arch(entry: BucketEntry, name: str) -> Response:
    """PUT ``?archpath=<file>``: the body as one file of the shard ``name`` (AIStore's PutApndArch).
    No flags: a new shard holding just that file; ``Ais-Pine: 1`` appends to a shard that must exist;
    ``2`` appends when it exists and creates it otherwise. A file of the same name is replaced."""
    path = request.args.get("archpath", "").lstrip("/")
    fmt = archive.format_of(request.args.get("archmime", "") or name)
    if not fmt:
        raise errors.InvalidArgument(f"{entry.bck.display()}/{name} is not an archive name "
                                     f"(supported: {', '.join(sorted(archive.FORMATS))})")
    if not path:
        raise errors.InvalidArgument('"archpath" is empty: name the file inside the archive')
    raw_flags = request.headers.get("Ais-Pine", "0") or "0"
    if not raw_flags.isdigit() or int(raw_flags) not in (0, ARCH_APPEND, ARCH_APPEND_IF_EXIST):
        raise errors.InvalidArgument(f'invalid Ais-Pine "{raw_flags}": expected 0, {ARCH_APPEND} (append) or '
                                     f"{ARCH_APPEND_IF_EXIST} (append if exists)")
    flags = int(raw_flags)
    length = request.content_length or 0
    if length > MAX_APPEND:
        raise errors.InvalidArgument(f"a file of {length} bytes: at most {MAX_APPEND} bytes per archive append")
    data = request.get_data(cache=False) if length else b""
    c = cluster()
    files: list[tuple[str, bytes]] = []
    if flags:
        try:
            with archive.spool(c, entry, name) as f:
                files = archive.all_files(f, fmt)
        except errors.NotFound:
            if flags == ARCH_APPEND:
                raise errors.NotFound(f"{entry.bck.display()}/{name} does not exist (append to an archive needs "
                                      "the archive; use append-if-exists to create it)") from None
    with tempfile.SpooledTemporaryFile(max_size=archive.SPOOL_IN_MEMORY) as out:
        archive.write_shard(out, fmt, archive.with_file(files, path, data))
        size = out.tell()
        out.seek(0)
        c.put_object(entry, name, iter(lambda: out.read(1 << 20), b""), size=size)
    return Response(b"", status=200)
