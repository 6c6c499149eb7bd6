"""S3 flexible checksums: x-amz-checksum-crc32|crc32c|crc64nvme|sha1|sha256.

A PutObject or UploadPart may carry one checksum of its payload: as a header whose value is
known before the body (``x-amz-checksum-crc32: <base64>``), or declared in ``x-amz-trailer``
and sent after an aws-chunked body. The gateway hashes the payload as it streams and fails
the request (400 BadDigest) before the node commits anything if the value differs.

A verified value is stored with the object in its custom metadata under the reserved prefix
(``s3.checksum-crc32``) and answered on GET/HEAD with ``x-amz-checksum-mode: ENABLED``. A
multipart upload created with ``x-amz-checksum-algorithm`` gets the composite checksum (the
checksum of the parts' checksums, ``-N`` suffixed), from the per-part values the client lists
in CompleteMultipartUpload.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import google_crc32c

from aismesh.cmn.errors import InvalidArgument
from services.gateway.s3.headers import RESERVED, HeaderMap

try:  # the CRT's native CRC64/NVME; a pure-Python table is the (slow) fallback
    from awscrt import checksums as _crt
except ImportError:  # pragma: no cover - awscrt is a runtime dependency
    _crt = None

ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
DIGEST_SIZE = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32}
HEADER = "x-amz-checksum-"
STORED = RESERVED + "checksum-"          # s3.checksum-<alg> = <base64>[-N]
STORED_ALGORITHM = RESERVED + "checksum-algorithm"   # a multipart upload's algorithm, from Create
# The object size the checksum was computed over: a write that changes the bytes but carries the
# custom metadata over (the native API's append) leaves a checksum that is no longer shown.
STORED_SIZE = RESERVED + "checksum-size"
# CompleteMultipartUpload's per-part elements, by algorithm.
XML_NAME = {"crc32": "ChecksumCRC32", "crc32c": "ChecksumCRC32C", "crc64nvme": "ChecksumCRC64NVME",
            "sha1": "ChecksumSHA1", "sha256": "ChecksumSHA256"}
_CRC64NVME_POLY = 0x9A6C9329AC4BC9B5  # reflected


class Hasher(Protocol):
    def update(self, data: bytes) -> None: ...

    def digest(self) -> bytes: ...


class _Crc32:
    def __init__(self) -> None:
        self._v = 0

    def update(self, data: bytes) -> None:
        self._v = zlib.crc32(data, self._v)

    def digest(self) -> bytes:
        return self._v.to_bytes(4, "big")


class _Crc32c:
    def __init__(self) -> None:
        self._c = google_crc32c.Checksum()

    def update(self, data: bytes) -> None:
        self._c.update(data)

    def digest(self) -> bytes:
        return bytes(self._c.digest())


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _CRC64NVME_POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE64: list[int] = []


def crc64nvme_py(data: bytes, crc: int = 0) -> int:
    """CRC-64/NVME in pure Python (reference and fallback: correct, not fast)."""
    if not _TABLE64:
        _TABLE64.extend(_crc64_table())
    c = crc ^ 0xFFFFFFFFFFFFFFFF
    for b in data:
        c = _TABLE64[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFFFFFFFFFF


class _Crc64Nvme:
    def __init__(self) -> None:
        self._v = 0

    def update(self, data: bytes) -> None:
        self._v = _crt.crc64nvme(data, self._v) if _crt is not None else crc64nvme_py(data, self._v)

    def digest(self) -> bytes:
        return self._v.to_bytes(8, "big")


def new_hasher(algorithm: str) -> Hasher:
    """A streaming hasher for an S3 checksum algorithm (lower case)."""
    makers: dict[str, Callable[[], Hasher]] = {
        "crc32": _Crc32, "crc32c": _Crc32c, "crc64nvme": _Crc64Nvme,
        "sha1": lambda: hashlib.sha1(usedforsecurity=False), "sha256": hashlib.sha256,
    }
    return makers[algorithm]()


def checksum_b64(algorithm: str, data: bytes) -> str:
    h = new_hasher(algorithm)
    h.update(data)
    return base64.b64encode(h.digest()).decode()


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument(message, reason="invalid-checksum")


def decode_value(algorithm: str, value: str, where: str) -> bytes:
    """The raw digest of a base64 checksum value; InvalidRequest when it is not one."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != DIGEST_SIZE[algorithm]:
        raise _invalid(f"Value for {where} is invalid.")
    return raw


def _algorithm_name(text: str, where: str) -> str:
    alg = text.strip().lower()
    if alg not in ALGORITHMS:
        raise _invalid(f"Value for {where} header is invalid: expected one of "
                       f"{', '.join(a.upper() for a in ALGORITHMS)}, got {text!r}")
    return alg


@dataclass(frozen=True)
class Expected:
    """The checksum a request promises: its algorithm, and its value (None: it comes in the trailer)."""

    algorithm: str
    value: str | None

    @property
    def header(self) -> str:
        return HEADER + self.algorithm


def expected(headers: HeaderMap) -> Expected | None:
    """What the request's x-amz-checksum-*, x-amz-trailer and x-amz-sdk-checksum-algorithm promise."""
    given = [(name.lower()[len(HEADER):], value) for name, value in headers.items()
             if name.lower().startswith(HEADER) and name.lower()[len(HEADER):] in ALGORITHMS]
    if len(given) > 1:
        raise _invalid("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    trailer = headers.get("x-amz-trailer") or ""
    declared = [t.strip().lower() for t in trailer.split(",") if t.strip().lower().startswith(HEADER)]
    sdk = headers.get("x-amz-sdk-checksum-algorithm") or ""
    if given:
        alg, value = given[0]
        decode_value(alg, value, HEADER + alg + " header")
        if sdk and _algorithm_name(sdk, "x-amz-sdk-checksum-algorithm") != alg:
            raise _invalid("Value for x-amz-sdk-checksum-algorithm header is invalid.")
        return Expected(alg, value.strip())
    if declared:
        if len(declared) > 1:
            raise _invalid("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
        return Expected(_algorithm_name(declared[0][len(HEADER):], "x-amz-trailer"), None)
    if sdk:
        _algorithm_name(sdk, "x-amz-sdk-checksum-algorithm")
        raise _invalid("x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* "
                       "or x-amz-trailer headers were found.")
    return None


def bad_digest(algorithm: str) -> InvalidArgument:
    return InvalidArgument(f"The {algorithm.upper()} you specified did not match the calculated checksum.",
                           reason="bad-digest")


@dataclass
class Verified:
    """Filled in when the payload has been checked: the value that matched."""

    value: str = ""
    size: int = 0  # bytes it covers


def verify(chunks: Iterator[bytes], exp: Expected, trailers: Mapping[str, str], done: Verified) -> Iterator[bytes]:
    """The payload, hashed as it passes; at its end (before the consumer can commit) the value
    must be the header's or the trailer's, else BadDigest. ``done.value`` is set once it matched."""
    h = new_hasher(exp.algorithm)
    size = 0
    for chunk in chunks:
        h.update(chunk)
        size += len(chunk)
        yield chunk
    claimed = exp.value if exp.value is not None else trailers.get(exp.header)
    if claimed is None:
        raise _invalid(f"The x-amz-trailer header declared {exp.header}, but the trailer did not carry it.")
    decode_value(exp.algorithm, claimed, exp.header)
    computed = base64.b64encode(h.digest()).decode()
    if computed != claimed.strip():
        raise bad_digest(exp.algorithm)
    done.value, done.size = computed, size


def stored(exp: Expected | None) -> dict[str, str]:
    """Custom metadata to store with the object when the value is known before the body."""
    if exp is None or exp.value is None:
        return {}
    return {STORED + exp.algorithm: exp.value}


def response_headers(custom: Mapping[str, str], request_headers: HeaderMap, size: int = -1) -> dict[str, str]:
    """GET/HEAD with ``x-amz-checksum-mode: ENABLED``: the stored checksum of the whole object
    (of ``size`` bytes: a checksum stored for another size is stale and not shown)."""
    if (request_headers.get("x-amz-checksum-mode") or "").upper() != "ENABLED" or request_headers.get("Range"):
        return {}
    if size >= 0 and custom.get(STORED_SIZE, str(size)) != str(size):
        return {}
    for alg in ALGORITHMS:
        value = custom.get(STORED + alg)
        if value:
            kind = "COMPOSITE" if "-" in value else "FULL_OBJECT"
            return {HEADER + alg: value, "x-amz-checksum-type": kind}
    return {}


# --- multipart ---------------------------------------------------------------------------------


def upload_algorithm(headers: HeaderMap) -> dict[str, str]:
    """CreateMultipartUpload's ``x-amz-checksum-algorithm``, as custom metadata of the upload."""
    text = headers.get("x-amz-checksum-algorithm") or ""
    if not text:
        return {}
    kind = (headers.get("x-amz-checksum-type") or "COMPOSITE").upper()
    if kind == "FULL_OBJECT":
        raise InvalidArgument("x-amz-checksum-type FULL_OBJECT is not supported by aismesh yet: use COMPOSITE",
                              reason="invalid-checksum")
    if kind != "COMPOSITE":
        raise _invalid("Value for x-amz-checksum-type header is invalid.")
    return {STORED_ALGORITHM: _algorithm_name(text, "x-amz-checksum-algorithm")}


def creation_headers(custom: Mapping[str, str]) -> dict[str, str]:
    alg = custom.get(STORED_ALGORITHM, "")
    return {"x-amz-checksum-algorithm": alg.upper(), "x-amz-checksum-type": "COMPOSITE"} if alg else {}


def composite(algorithm: str, part_values: list[str]) -> str:
    """The multipart checksum: the checksum of the parts' raw checksums, then ``-<parts>``."""
    h = new_hasher(algorithm)
    for i, value in enumerate(part_values, 1):
        h.update(decode_value(algorithm, value, f"{XML_NAME[algorithm]} of part {i}"))
    return f"{base64.b64encode(h.digest()).decode()}-{len(part_values)}"


def completed(algorithm: str, part_values: list[str | None]) -> dict[str, str]:
    """Custom metadata for a completed upload created with ``algorithm``: its composite checksum
    when the client listed every part's checksum (as SDKs do), else nothing."""
    if not algorithm:
        if any(part_values):
            raise _invalid("The upload was not created with a checksum algorithm, so parts carry no checksums.")
        return {}
    if not all(part_values):
        return {}
    return {STORED + algorithm: composite(algorithm, [v for v in part_values if v])}


def part_checksums(body: bytes) -> list[dict[str, str]]:
    """Each Part's Checksum<alg> elements of a CompleteMultipartUpload body ({algorithm: value})."""
    from xml.etree import ElementTree

    by_tag = {v: k for k, v in XML_NAME.items()}
    out: list[dict[str, str]] = []
    for el in ElementTree.fromstring(body):
        if el.tag.rsplit("}", 1)[-1] != "Part":
            continue
        found = {}
        for child in el:
            alg = by_tag.get(child.tag.rsplit("}", 1)[-1])
            if alg and (child.text or "").strip():
                found[alg] = (child.text or "").strip()
        out.append(found)
    return out


def completed_from_parts(listed: list[dict[str, str]], kept: list[str] | None = None) -> tuple[str, dict[str, str]]:
    """(algorithm, custom metadata) of a completed upload: the composite checksum when every part
    has one of one algorithm. ``listed`` are the values the Complete request gives per part,
    ``kept`` what each part was verified with when uploaded ("<alg>:<base64>" or ""): a listed
    value that differs from the kept one is InvalidPart, as S3 answers."""
    merged: list[dict[str, str]] = []
    for i, client in enumerate(listed):
        entry = dict(client)
        if kept and kept[i]:
            alg, _, value = kept[i].partition(":")
            if any(a != alg or v != value for a, v in entry.items()):
                raise InvalidArgument(f"part {i + 1}: the {XML_NAME.get(alg, alg)} given does not match the "
                                      "checksum the part was uploaded with", reason="invalid-part")
            entry = {alg: value}
        merged.append(entry)
    algs = {alg for p in merged for alg in p}
    if not algs:
        return "", {}
    if len(algs) > 1:
        raise _invalid("The parts of CompleteMultipartUpload have checksums of different algorithms.")
    alg = algs.pop()
    values = [p.get(alg) for p in merged]
    if not all(values):
        return alg, {}  # some parts have none: no checksum of the whole
    return alg, completed(alg, values)


# --- a request's payload -----------------------------------------------------------------------

# A checksum that arrives in a trailer is known only after the body, when the node has its
# header already: part bodies up to this size are taken in memory first so it can be kept
# with the part; an object's goes to the node with its commit (Checked.late).
TRAILER_BUFFER_LIMIT = 8 << 20


@dataclass
class Checked:
    """A payload under checksum verification, and what the answer and the object get from it."""

    chunks: Iterator[bytes]
    custom: dict[str, str]
    exp: Expected | None
    done: Verified
    # Metadata known only once the body has been read (a trailing checksum, verified): the
    # object's commit stores it (Cluster.put_object's late_custom).
    late: Callable[[], dict[str, str]] | None = None

    @property
    def part_checksum(self) -> str:
        """``<alg>:<base64>`` for the storage node to keep with a part, when known before its commit."""
        for alg in ALGORITHMS:
            if STORED + alg in self.custom:
                return f"{alg}:{self.custom[STORED + alg]}"
        return ""

    def response(self) -> dict[str, str]:
        """The checksum header S3 answers a PutObject/UploadPart with once the body matched."""
        if self.exp is None:
            return {}
        return {self.exp.header: self.done.value or (self.exp.value or "")}


def checked(chunks: Iterator[bytes], size: int, headers: HeaderMap,
            trailers: Mapping[str, str], stream_trailer: bool = False) -> Checked:
    """The payload with its promised checksum (if any) verified on the way. ``stream_trailer``:
    the caller stores a trailing checksum with the commit (``late``) instead of the body being
    buffered to learn it first."""
    exp = expected(headers)
    if exp is None:
        return Checked(chunks, {}, None, Verified())
    done = Verified()
    verifying = verify(chunks, exp, trailers, done)
    sized = {STORED_SIZE: str(size)} if size >= 0 else {}
    if exp.value is None and stream_trailer:
        alg = exp.algorithm

        def late() -> dict[str, str]:
            # the body was read whole and matched (a mismatch raised before any commit)
            return {STORED + alg: done.value, STORED_SIZE: str(done.size)} if done.value else {}

        return Checked(verifying, {}, exp, done, late)
    if exp.value is None and 0 <= size <= TRAILER_BUFFER_LIMIT:
        data = b"".join(verifying)  # the trailer is read, the value verified: now it can be stored
        return Checked(iter((data,)), {STORED + exp.algorithm: done.value, **sized}, exp, done)
    custom = stored(exp)
    return Checked(verifying, {**custom, **sized} if custom else {}, exp, done)


def request_trailers(environ: dict[str, Any]) -> dict[str, str]:
    """The aws-chunked trailer of the request of ``environ`` (filled by the decoder when the body ends)."""
    found: dict[str, str] = environ.setdefault("aismesh.s3_trailers", {})
    return found
