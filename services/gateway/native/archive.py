"""Archives (shards): read a file out of a tar/tgz/zip/tar.lz4 object, list its files, write a new shard.

Pure over file objects (``members``, ``extract``, ``select``, ``write_shard``), and the glue that
spools an object from the cluster into a temporary file (small ones stay in memory) first:
tarfile and zipfile need to seek. Formats: AIStore's four, ``.tar``, ``.tgz``/``.tar.gz``,
``.zip`` and ``.tar.lz4`` (an LZ4 frame around a tar, as AIStore writes it; read by
decompressing into a spooled file first, since an LZ4 frame cannot seek).
"""

from __future__ import annotations

import io
import re
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

import lz4.frame

from aismesh.cmn import errors
from services.gateway.cluster import Cluster
from services.gateway.metasync import BucketEntry

SPOOL_IN_MEMORY = 16 << 20
FORMATS = {".tar": "tar", ".tgz": "tgz", ".tar.gz": "tgz", ".zip": "zip", ".tar.lz4": "tar.lz4"}
MODES = ("regexp", "prefix", "suffix", "substr", "wdskey")


@dataclass(frozen=True)
class Member:
    name: str
    size: int


def format_of(name: str) -> str:
    """"tar", "tgz", "zip", "tar.lz4", or "" for a name that is not an archive."""
    low = name.lower()
    for ext in sorted(FORMATS, key=len, reverse=True):
        if low.endswith(ext):
            return FORMATS[ext]
    return ""


def _open(f: IO[bytes], fmt: str) -> Any:
    f.seek(0)
    try:
        if fmt == "zip":
            return zipfile.ZipFile(f)
        if fmt == "tar.lz4":
            return _LZ4Tar(f)
        return tarfile.open(fileobj=f, mode="r:gz" if fmt == "tgz" else "r:")
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, RuntimeError) as e:
        raise errors.InvalidArgument(f"not a valid {fmt} archive: {e}") from None


class _LZ4Tar(tarfile.TarFile):
    """A tar inside an LZ4 frame, decompressed into its own spooled file (closed with the TarFile)."""

    def __init__(self, f: IO[bytes]) -> None:
        plain = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (closed in close())
        try:
            with lz4.frame.LZ4FrameFile(f, "rb") as src:
                while chunk := src.read(1 << 20):
                    plain.write(chunk)
            plain.seek(0)
            super().__init__(fileobj=plain, mode="r")
        except BaseException:
            plain.close()
            raise
        self._plain = plain

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._plain.close()


def members(f: IO[bytes], fmt: str) -> list[Member]:
    arch = _open(f, fmt)
    with arch:
        if fmt == "zip":
            return [Member(i.filename, i.file_size) for i in arch.infolist() if not i.is_dir()]
        return [Member(m.name, m.size) for m in arch.getmembers() if m.isfile()]


def extract(f: IO[bytes], fmt: str, path: str) -> bytes | None:
    """One file's bytes, or None when the archive has no such file."""
    arch = _open(f, fmt)
    with arch:
        try:
            if fmt == "zip":
                return bytes(arch.read(path))
            member = arch.extractfile(path)
        except KeyError:
            return None
        return member.read() if member is not None else None


def matches(name: str, pattern: str, mode: str) -> bool:
    if mode == "regexp":
        return re.search(pattern, name) is not None
    if mode == "prefix":
        return name.startswith(pattern)
    if mode == "suffix":
        return name.endswith(pattern)
    if mode == "substr":
        return pattern in name
    # wdskey: WebDataset key, the name without its extension(s)
    base = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(base)] + base.split(".", 1)[0] == pattern


def select(f: IO[bytes], fmt: str, pattern: str, mode: str) -> bytes:
    """The files that match, as a new tar (what AIS answers a GET with ``archregx``)."""
    if mode not in MODES:
        raise errors.InvalidArgument(f'invalid archmode "{mode}": expected one of {", ".join(MODES)}')
    if mode == "regexp":
        try:
            re.compile(pattern)
        except re.error as e:
            raise errors.InvalidArgument(f'invalid archregx "{pattern}": {e}') from None
    out = io.BytesIO()
    picked = [(m.name, extract(f, fmt, m.name) or b"") for m in members(f, fmt) if matches(m.name, pattern, mode)]
    write_shard(out, "tar", picked)
    return out.getvalue()


def write_shard(out: IO[bytes], fmt: str, files: Iterable[tuple[str, bytes]]) -> None:
    now = time.time()
    if fmt == "zip":
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, data in files:
                z.writestr(name, data)
        return
    if fmt == "tar.lz4":
        with lz4.frame.LZ4FrameFile(out, "wb") as framed:
            _write_tar(framed, "w", files, now)
        return
    _write_tar(out, "w:gz" if fmt == "tgz" else "w", files, now)


def _write_tar(out: IO[bytes], mode: str, files: Iterable[tuple[str, bytes]], now: float) -> None:
    with tarfile.open(fileobj=out, mode=mode) as t:  # type: ignore[call-overload]
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(now), 0o644
            t.addfile(info, io.BytesIO(data))


def all_files(f: IO[bytes], fmt: str) -> list[tuple[str, bytes]]:
    """Every file of the archive with its bytes, in archive order (to rewrite it with more)."""
    return [(m.name, extract(f, fmt, m.name) or b"") for m in members(f, fmt)]


def with_file(files: list[tuple[str, bytes]], name: str, data: bytes) -> list[tuple[str, bytes]]:
    """``files`` plus ``name``; a file of the same name is replaced where it stood."""
    if any(n == name for n, _ in files):
        return [(n, data if n == name else d) for n, d in files]
    return [*files, (name, data)]


def spool(cluster: Cluster, entry: BucketEntry, name: str) -> IO[bytes]:
    """The whole object in a seekable temporary file (in memory up to SPOOL_IN_MEMORY)."""
    result = cluster.get_object(entry, name)
    f = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (returned open; the caller closes it)
    try:
        for chunk in result.chunks:
            f.write(chunk)
    except BaseException:
        f.close()
        raise
    finally:
        result.cancel()
    f.seek(0)
    return f


def read_object(cluster: Cluster, entry: BucketEntry, name: str) -> bytes:
    result = cluster.get_object(entry, name)
    try:
        return b"".join(result.chunks)
    finally:
        result.cancel()
