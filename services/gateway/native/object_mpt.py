"""AIS native API: multipart upload of one object (``mpt-upload``, part PUTs, ``mpt-complete``, ``mpt-abort``).

The same storage-node uploads as the S3 front end's, through services/gateway/multipart.py.
The SDK completes with empty ETags; the parts' own ETags are filled in from the node.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from aismesh.cmn import errors
from services.gateway import body, multipart
from services.gateway.metasync import BucketEntry
from services.gateway.native.common import action_msg, cluster, str_field


def _part_number() -> int:
    raw = request.args.get("partNumber", "")
    if not raw.isdigit():
        raise errors.InvalidArgument(f'invalid partNumber "{raw[:32]}": expected an integer from 1 to '
                                     f"{multipart.MAX_PART_NUMBER}")
    return int(raw)


def _upload_id() -> str:
    upload_id = request.args.get("uploadId", "")
    if not upload_id:
        raise errors.InvalidArgument('the multipart upload id ("uploadId") is missing')
    return upload_id


def start(entry: BucketEntry, name: str) -> Response:
    """POST with ``mpt-upload``: the new upload's id as text; with ``uploadId`` and ``mpt-complete``: complete it."""
    msg = action_msg()
    action = str_field(msg, "action", "ActMsg")
    c = cluster()
    if action == "mpt-upload":
        info = multipart.create_upload(c, entry, name, "", {})
        return Response(info.upload_id, status=200, content_type="text/plain")
    if action == "mpt-complete":
        return complete(entry, name, msg.get("value"))
    raise errors.InvalidArgument(f'POST {entry.bck.display()}/{name} with action "{action}": expected '
                                 "mpt-upload or mpt-complete")


def put_part(entry: BucketEntry, name: str) -> Response:
    chunks, length = body.request_body(request.environ)
    part = multipart.put_part(cluster(), entry, name, _upload_id(), _part_number(), chunks, length)
    return Response(b"", status=200, headers={"ETag": f'"{part.etag}"'})


def complete(entry: BucketEntry, name: str, value: Any) -> Response:
    if not isinstance(value, list) or not value:
        raise errors.InvalidArgument('invalid mpt-complete message: "value" must be a non-empty list of '
                                     '{"part-number", "etag"}')
    upload_id, c = _upload_id(), cluster()
    stored = {p.part_number: p.etag for p in multipart.list_parts(c, entry, name, upload_id)}
    parts: list[tuple[int, str]] = []
    for item in value:
        # AIS's MptCompletedPart says "part-number"; accept "part_number" too.
        number = (item.get("part-number", item.get("part_number")) if isinstance(item, dict) else None)
        if not isinstance(number, int) or isinstance(number, bool):
            raise errors.InvalidArgument('invalid mpt-complete message: each part needs an integer "part-number"')
        etag = str(item.get("etag") or "").strip('"') or stored.get(number, "")
        if number not in stored:
            raise errors.InvalidArgument(f"mpt-complete: part {number} was not uploaded")
        parts.append((number, etag))
    multipart.complete_upload(c, entry, name, upload_id, sorted(parts))
    return Response(b"", status=200)


def abort(entry: BucketEntry, name: str) -> Response:
    multipart.abort_upload(cluster(), entry, name, _upload_id())
    return Response(b"", status=200)
