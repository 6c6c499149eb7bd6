"""The work of asynchronous bucket and object-group operations, each run as a job.

copy-bck, move-bck (rename), delete-listrange, copy-listrange, summary: built on the Cluster's
public calls (list_objects, get_object, put_object, delete_object, create_bucket, destroy_bucket),
so they run wherever a gateway runs. The object selection of a multi-object operation (a list of
names, a brace template ``p{0..9}``, or a prefix) is expanded here.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aismesh.cmn import errors, props
from aismesh.cmn.names import Bck, ais_bucket_name_error
from services.gateway.cluster import Cluster
from services.gateway.metasync import BucketEntry
from services.gateway.native import archive
from services.gateway.native.jobs import Progress

LIST_PAGE = 1000
MAX_TEMPLATE = 1_000_000
_RANGE = re.compile(r"\{(\d+)\.\.(\d+)(?:\.\.(\d+))?\}")


@dataclass(frozen=True)
class CopyOptions:
    """CopyBckMsg (apc.CopyBckMsg): what a copy takes from the source and how it names it."""

    prefix: str = ""
    prepend: str = ""
    dry_run: bool = False
    latest: bool = False
    sync: bool = False

    @classmethod
    def from_msg(cls, value: dict[str, Any]) -> CopyOptions:
        def text(key: str) -> str:
            raw = value.get(key)
            if raw is None:
                return ""
            if not isinstance(raw, str):
                raise errors.InvalidArgument(f'invalid copy-bck message: "{key}" must be a string')
            return raw

        def boolean(key: str) -> bool:
            raw = value.get(key, False)
            if raw is None:
                return False
            if not isinstance(raw, bool):
                raise errors.InvalidArgument(f'invalid copy-bck message: "{key}" must be true or false')
            return raw

        return cls(prefix=text("prefix"), prepend=text("prepend"), dry_run=boolean("dry_run"),
                   latest=boolean("latest-ver"), sync=boolean("synchronize"))


def iter_names(cluster: Cluster, entry: BucketEntry, prefix: str = "") -> Iterator[str]:
    """Every object name in the bucket under ``prefix``, in order, page by page."""
    after = ""
    while True:
        page = cluster.list_objects(entry, prefix=prefix, start_after=after, page_size=LIST_PAGE, with_attrs=False)
        for e in page.entries:
            if not e.is_dir:
                yield e.name
        if not page.is_truncated or not page.entries:
            return
        after = page.entries[-1].name


def expand_template(template: str) -> list[str]:
    """AIS range templates: ``prefix{0..9}suffix``, ``{001..100..2}`` (zero-padded as written)."""
    m = _RANGE.search(template)
    if not m:
        return [template]
    lo, hi, step = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
    if step <= 0 or hi < lo:
        raise errors.InvalidArgument(f'invalid template "{template}": expected {{lo..hi[..step]}} with lo <= hi')
    width = len(m.group(1)) if m.group(1).startswith("0") else 0
    if (hi - lo) // step + 1 > MAX_TEMPLATE:
        raise errors.InvalidArgument(f'invalid template "{template}": more than {MAX_TEMPLATE} names')
    head, tail = template[:m.start()], template[m.end():]
    out: list[str] = []
    for i in range(lo, hi + 1, step):
        out.extend(head + str(i).zfill(width) + rest for rest in expand_template(tail))
        if len(out) > MAX_TEMPLATE:
            raise errors.InvalidArgument(f'invalid template "{template}": more than {MAX_TEMPLATE} names')
    return out


@dataclass(frozen=True)
class Selection:
    """ListRange (apc.ListRange): explicit names, or a template; a template without braces is a prefix."""

    names: tuple[str, ...] = ()
    template: str = ""

    @classmethod
    def from_msg(cls, value: dict[str, Any], what: str) -> Selection:
        names, template = value.get("objnames"), value.get("template")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise errors.InvalidArgument(f'invalid {what} message: "objnames" must be a list of strings')
        if template is not None and not isinstance(template, str):
            raise errors.InvalidArgument(f'invalid {what} message: "template" must be a string')
        if names and template:
            raise errors.InvalidArgument(f'invalid {what} message: give "objnames" or "template", not both')
        if names:
            return cls(names=tuple(names))
        if template is not None:
            expand_template(template)  # refuse a bad template now, not inside the job
            return cls(template=template)
        raise errors.InvalidArgument(f'invalid {what} message: "objnames" or "template" is required')

    def resolve(self, cluster: Cluster, entry: BucketEntry) -> Iterator[str]:
        if self.names:
            yield from self.names
        elif _RANGE.search(self.template):
            yield from expand_template(self.template)
        else:
            yield from iter_names(cluster, entry, self.template)


def copy_one(cluster: Cluster, src: BucketEntry, name: str, dst: BucketEntry, dst_name: str) -> int:
    """Copy one object (bytes and custom metadata); the number of bytes copied."""
    result = cluster.get_object(src, name)
    try:
        cluster.put_object(dst, dst_name, result.chunks, size=result.attrs.size,
                           content_type=result.attrs.content_type, custom=dict(result.attrs.custom))
    finally:
        result.cancel()
    return int(result.attrs.size)


def ensure_bucket(cluster: Cluster, dst: Bck, like: BucketEntry) -> BucketEntry:
    """The destination of a copy, created (with the source's props) when it does not exist, as AIS does."""
    try:
        return cluster.bucket(dst)
    except errors.NotFound:
        pass
    if dst.provider != "ais" or dst.ns_uuid:
        raise errors.NotFound(f'bucket "{dst.display()}" does not exist')
    problem = ais_bucket_name_error(dst.name)
    if problem:
        raise errors.InvalidArgument(problem)
    partial = {k: v for k, v in like.props.items() if k not in props.READ_ONLY}
    try:
        return cluster.create_bucket(dst, partial)
    except errors.AlreadyExists:
        return cluster.bucket(dst)


def copy_bucket(cluster: Cluster, src: BucketEntry, dst: Bck, opts: CopyOptions, progress: Progress) -> None:
    if opts.dry_run:
        for _name in iter_names(cluster, src, opts.prefix):
            progress.add(1)
        return
    dst_entry = ensure_bucket(cluster, dst, src)
    progress.job.extra["bmd_version"] = cluster.meta.bmd.version
    for name in iter_names(cluster, src, opts.prefix):
        progress.add(1, copy_one(cluster, src, name, dst_entry, opts.prepend + name))


def rename_bucket(cluster: Cluster, src: BucketEntry, dst: Bck, progress: Progress) -> None:
    """Copy everything, then drop the source: the new name has every object before the old one goes."""
    dst_entry = ensure_bucket(cluster, dst, src)
    for name in iter_names(cluster, src):
        progress.add(1, copy_one(cluster, src, name, dst_entry, name))
    progress.check()
    cluster.destroy_bucket(src)
    # Whoever waits on this job then reads at least this BMD (jobs.catch_up), so the old name is gone.
    progress.job.extra["bmd_version"] = cluster.meta.bmd.version


def delete_objects(cluster: Cluster, entry: BucketEntry, sel: Selection, progress: Progress) -> None:
    """Delete the selection; names that do not exist are skipped (as AIS's delete-listrange does)."""
    for name in list(sel.resolve(cluster, entry)):
        try:
            cluster.delete_object(entry, name)
        except errors.NotFound:
            continue
        progress.add(1)


def copy_objects(cluster: Cluster, src: BucketEntry, sel: Selection, dst: Bck, opts: CopyOptions,
                 progress: Progress) -> None:
    dst_entry = ensure_bucket(cluster, dst, src)
    for name in list(sel.resolve(cluster, src)):
        if opts.dry_run:
            progress.add(1)
            continue
        try:
            progress.add(1, copy_one(cluster, src, name, dst_entry, opts.prepend + name))
        except errors.NotFound:
            continue


@dataclass(frozen=True)
class ShardOptions:
    """ArchiveMsg: the shard's name and format, member naming, append, continue on error."""

    name: str
    fmt: str
    include_bucket: bool = False
    append: bool = False
    continue_on_err: bool = False


def archive_objects(cluster: Cluster, src: BucketEntry, sel: Selection, dst: Bck, opts: ShardOptions,
                    progress: Progress) -> None:
    """Write the selected objects into one shard (built in a temporary file, then one PUT)."""
    dst_entry = cluster.bucket(dst)
    files: list[tuple[str, bytes]] = []
    if opts.append:
        try:
            with archive.spool(cluster, dst_entry, opts.name) as f:
                files = [(m.name, archive.extract(f, opts.fmt, m.name) or b"") for m in archive.members(f, opts.fmt)]
        except errors.NotFound:
            files = []
    for name in list(sel.resolve(cluster, src)):
        try:
            data = archive.read_object(cluster, src, name)
        except errors.NotFound:
            if opts.continue_on_err:
                continue
            raise
        files.append((f"{src.bck.name}/{name}" if opts.include_bucket else name, data))
        progress.add(1, len(data))
    with tempfile.SpooledTemporaryFile(max_size=archive.SPOOL_IN_MEMORY) as out:
        archive.write_shard(out, opts.fmt, files)
        size = out.tell()
        out.seek(0)
        cluster.put_object(dst_entry, opts.name, iter(lambda: out.read(1 << 20), b""), size=size)


def summary(cluster: Cluster, entry: BucketEntry, prefix: str = "") -> dict[str, Any]:
    """BsummResult: object count and sizes of an ais bucket (every object is present)."""
    count = total = 0
    smallest, largest = -1, 0
    after = ""
    while True:
        page = cluster.list_objects(entry, prefix=prefix, start_after=after, page_size=LIST_PAGE, with_attrs=True)
        for e in page.entries:
            if e.is_dir:
                continue
            count += 1
            total += e.size
            smallest = e.size if smallest < 0 else min(smallest, e.size)
            largest = max(largest, e.size)
        if not page.is_truncated or not page.entries:
            break
        after = page.entries[-1].name
    bck = entry.bck
    return {
        "name": bck.name, "provider": bck.provider, "namespace": {"uuid": bck.ns_uuid, "name": bck.ns_name},
        "ObjCount": {"obj_count_present": str(count), "obj_count_remote": "0"},
        "ObjSize": {"obj_min_size": max(smallest, 0), "obj_avg_size": total // count if count else 0,
                    "obj_max_size": largest},
        "TotalSize": {"size_on_disk": str(total), "size_all_present_objs": str(total),
                      "size_all_remote_objs": "0", "total_disks_size": "0"},
        "used_pct": 0, "is_present": True,
    }
