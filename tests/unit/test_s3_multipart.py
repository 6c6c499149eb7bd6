"""ListMultipartUploads paging (services/gateway/s3/multipart.py)."""

from __future__ import annotations

from aismesh.protos import storage_pb2
from services.gateway.s3.multipart import page_uploads

UPLOADS = [storage_pb2.UploadInfo(name=n, upload_id=i, initiated_ns=t)
           for n, i, t in [("a", "u1", 1), ("a", "u0", 2), ("b", "u2", 3), ("c", "u3", 4)]]


def _ids(page: list[storage_pb2.UploadInfo]) -> list[str]:
    return [u.upload_id for u in page]


def test_pages_walk_every_upload_once() -> None:
    seen: list[str] = []
    key, uid = "", ""
    while True:
        page, more = page_uploads(UPLOADS, key, uid, 1)
        seen += _ids(page)
        if not more:
            break
        key, uid = page[-1].name, page[-1].upload_id
    assert seen == ["u1", "u0", "u2", "u3"]


def test_key_marker_alone_skips_the_key() -> None:
    assert _ids(page_uploads(UPLOADS, "a", "", 10)[0]) == ["u2", "u3"]
    assert page_uploads(UPLOADS, "z", "", 10) == ([], False)
    assert _ids(page_uploads(UPLOADS, "a", "unknown", 10)[0]) == ["u2", "u3"]
