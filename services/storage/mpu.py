"""Multipart uploads staged on the node that owns the object name.

    <mountpath>/.aismesh/mpu/<upload id>/upload.json   bucket, name, content type, metadata
    <mountpath>/.aismesh/mpu/<upload id>/<NNNNN>       one part's bytes, its md5 in an xattr

Completion streams the listed parts into one work file (hashing it with the bucket's checksum),
fsyncs it and renames it into place exactly like a single PUT; the ETag is S3's
md5-of-part-md5s-N. Aborting or completing removes the upload folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable

from aismesh.cmn import errors
from aismesh.cmn.names import Bck, check_object_name
from aismesh.protos import storage_pb2, types_pb2
from services.storage import durable, layout
from services.storage.store import PutSpec, Store

MIN_PART_SIZE = 5 << 20
_PART_XATTR = "user.ais.part"


def _copy_all(src: int, dst: int, count: int) -> int:
    """Append ``count`` bytes of ``src`` to ``dst`` in the kernel (copy_file_range)."""
    left = count
    while left > 0:
        n = os.copy_file_range(src, dst, min(left, 1 << 30))
        if n == 0:
            raise errors.Internal(f"a part file ended {left} bytes early")
        left -= n
    return count


class Uploads:
    def __init__(self, store: Store,
                 write_through: Callable[[types_pb2.BucketRef, PutSpec], None] | None = None) -> None:
        self.store = store
        # Remote buckets: sets spec.write_through, so completion sends the whole object to the
        # backend before this node commits its copy.
        self.write_through = write_through

    def _dir(self, bck: Bck, name: str, upload_id: str) -> str:
        if not upload_id or not upload_id.isalnum():
            raise self._no_such(upload_id)
        return layout.sys_path(self.store.mountpath_for(bck, name), "mpu", upload_id)

    @staticmethod
    def _no_such(upload_id: str) -> errors.NotFound:
        return errors.NotFound(f'upload "{upload_id}" does not exist (completed, aborted, or never created)',
                               reason="upload")

    def _load(self, ref: types_pb2.BucketRef, name: str, upload_id: str) -> tuple[str, dict[str, object]]:
        bck = Bck.from_proto(ref.bck)
        path = self._dir(bck, name, upload_id)
        try:
            with open(os.path.join(path, "upload.json")) as f:
                info = json.load(f)
        except FileNotFoundError:
            raise self._no_such(upload_id) from None
        if info["uname"] != bck.uname or info["bid"] != ref.bid or info["name"] != name:
            raise self._no_such(upload_id)
        return path, info

    def create(self, req: storage_pb2.CreateUploadRequest) -> storage_pb2.UploadInfo:
        check_object_name(req.name)
        bck = Bck.from_proto(req.bucket.bck)
        self.store.check_bucket(bck, req.bucket.bid)
        upload_id = uuid.uuid4().hex
        path = self._dir(bck, req.name, upload_id)
        durable.makedirs(path)
        now = time.time_ns()
        info = {"uname": bck.uname, "bid": req.bucket.bid, "name": req.name, "content_type": req.content_type,
                "custom": dict(req.custom), "cks_type": req.checksum_type, "versioning": req.versioning,
                "initiated": now}
        with open(os.path.join(path, "upload.json"), "w") as f:
            json.dump(info, f, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        durable.fsync_dir(path)  # an acknowledged upload id survives a power loss
        return storage_pb2.UploadInfo(upload_id=upload_id, name=req.name, initiated_ns=now)

    def put_part(self, h: storage_pb2.PartHeader, chunks: Iterable[bytes]) -> storage_pb2.PartInfo:
        path, _ = self._load(h.bucket, h.name, h.upload_id)
        if not 1 <= h.part_number <= 10_000:
            raise errors.InvalidArgument(f"part number must be between 1 and 10000, got {h.part_number}")
        tmp = os.path.join(path, f".{uuid.uuid4().hex}")
        md5 = hashlib.md5()
        size = 0
        try:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    md5.update(chunk)
                    size += len(chunk)
                if h.size >= 0 and size != h.size:
                    raise errors.InvalidArgument(f"received {size} bytes, but the request announced {h.size}",
                                                 reason="incomplete-body")
                if h.HasField("expected") and h.expected.value and h.expected.value != md5.hexdigest():
                    raise errors.InvalidArgument(f"md5 mismatch: expected {h.expected.value}, computed "
                                                 f"{md5.hexdigest()}", reason="bad-digest")
                f.flush()
                os.fsync(f.fileno())
                # "md5 size [s3-checksum]": the S3 checksum (no spaces in it) only when the part has one
                os.setxattr(f.fileno(), _PART_XATTR,
                            " ".join((md5.hexdigest(), str(size), h.s3_checksum)).strip().encode())
            os.replace(tmp, os.path.join(path, f"{h.part_number:05d}"))
            durable.fsync_dir(path)  # an acknowledged part survives a power loss
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return storage_pb2.PartInfo(part_number=h.part_number, size=size, etag=md5.hexdigest(),
                                    mtime_ns=time.time_ns(), s3_checksum=h.s3_checksum)

    def _parts(self, path: str) -> dict[int, storage_pb2.PartInfo]:
        out = {}
        for fname in os.listdir(path):
            if fname.isdigit():
                full = os.path.join(path, fname)
                etag, size, *s3_checksum = os.getxattr(full, _PART_XATTR).decode().split()
                out[int(fname)] = storage_pb2.PartInfo(part_number=int(fname), size=int(size), etag=etag,
                                                       mtime_ns=os.stat(full).st_mtime_ns,
                                                       s3_checksum=s3_checksum[0] if s3_checksum else "")
        return out

    def parts(self, req: storage_pb2.UploadRequest) -> list[storage_pb2.PartInfo]:
        path, _ = self._load(req.bucket, req.name, req.upload_id)
        return [p for _, p in sorted(self._parts(path).items())]

    def abort(self, req: storage_pb2.UploadRequest) -> None:
        path, _ = self._load(req.bucket, req.name, req.upload_id)
        shutil.rmtree(path, ignore_errors=True)

    def complete(self, req: storage_pb2.CompleteUploadRequest) -> types_pb2.ObjAttrs:
        path, info = self._load(req.bucket, req.name, req.upload_id)
        have = self._parts(path)
        chosen = []
        for i, want in enumerate(req.parts):
            got = have.get(want.part_number)
            if got is None or (want.etag and want.etag.strip('"') != got.etag):
                raise errors.InvalidArgument(
                    f"part {want.part_number} was not uploaded or its ETag does not match", reason="invalid-part")
            if i < len(req.parts) - 1 and got.size < MIN_PART_SIZE:
                raise errors.InvalidArgument(
                    f"part {want.part_number} is {got.size} bytes: every part but the last must be at least 5 MiB",
                    reason="entity-too-small")
            chosen.append(got)
        bck = Bck.from_proto(req.bucket.bck)
        spec = PutSpec(bck=bck, bid=req.bucket.bid, name=req.name, content_type=str(info["content_type"]),
                       custom={**dict(info["custom"]), **req.custom},  # type: ignore[call-overload]
                       cks_type=str(info["cks_type"]), versioning=bool(info["versioning"]),
                       if_absent=req.if_absent, if_match_etag=req.if_match_etag)
        if self.write_through is not None:
            self.write_through(req.bucket, spec)
        md5s = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in chosen))
        fd, mp, tmp = self.store.create_work(spec)
        size = 0
        try:
            for part in chosen:
                with open(os.path.join(path, f"{part.part_number:05d}"), "rb") as src:
                    size += _copy_all(src.fileno(), fd, part.size)
        except BaseException:
            os.unlink(tmp)
            raise
        finally:
            os.close(fd)
        attrs = self.store.commit_work(spec, mp, tmp, size, etag=f"{md5s.hexdigest()}-{len(chosen)}")
        shutil.rmtree(path, ignore_errors=True)
        return attrs

    def list(self, req: storage_pb2.ListUploadsRequest) -> list[storage_pb2.UploadInfo]:
        bck = Bck.from_proto(req.bucket.bck)
        out = []
        for mp in self.store.mountpaths:
            root = layout.sys_path(mp, "mpu")
            for upload_id in os.listdir(root):
                try:
                    with open(os.path.join(root, upload_id, "upload.json")) as f:
                        info = json.load(f)
                except (FileNotFoundError, ValueError):
                    continue
                if info["uname"] == bck.uname and info["bid"] == req.bucket.bid and info["name"].startswith(req.prefix):
                    out.append(storage_pb2.UploadInfo(upload_id=upload_id, name=info["name"],
                                                      initiated_ns=info["initiated"]))
        return out
