"""Bucket properties in AIS's shape (Bprops): every key, its default, validation, partial updates.

Pure functions over plain dicts: the metadata service applies them inside its etcd
transactions, the front ends read the result (``checksum.type``, ``versioning.enabled``...).
``SCHEMA`` is the one table of keys (dotted paths, AIS's names); ``ENFORCED`` says which of
them aismesh acts on today: the others are stored, shown and validated, but nothing enforces
them yet (listed by ``not_enforced``, shown by the CLI and the ``Ais-Props-Not-Enforced`` header).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aismesh.cmn.checksum import TYPES as CHECKSUM_TYPES
from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.names import parse_bck_uri

ACCESS_ALL = (1 << 64) - 1
MAX_UINT64 = ACCESS_ALL
KIB, MIB, GIB, TIB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
PROVIDERS = ("ais", "aws", "gcp", "azure", "oci", "ht")

# Access bits (apc.AccessAttrs) and the named sets the CLI accepts.
ACCESS_BITS = ("GET", "HEAD-OBJECT", "PUT", "APPEND", "DELETE-OBJECT", "MOVE-OBJECT", "PROMOTE", "UPDATE-OBJECT",
               "HEAD-BUCKET", "LIST-OBJECTS", "PATCH", "SET-BUCKET-ACL", "LIST-BUCKETS", "SHOW-CLUSTER",
               "CREATE-BUCKET", "DESTROY-BUCKET", "MOVE-BUCKET", "ADMIN")
_RO = (1 << 0) | (1 << 1) | (1 << 8) | (1 << 9)
ACCESS_NAMED = {"ro": _RO, "rw": _RO | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5), "su": ACCESS_ALL}

# Cluster feature flags (bit = position); only these may be set on a bucket.
FEATURES = ("Enforce-IntraCluster-Access", "Skip-Loading-VersionChecksum-MD", "Do-not-Auto-Detect-FileShare",
            "S3-API-via-Root", "Fsync-PUT", "LZ4-Block-1MB", "LZ4-Frame-Checksum",
            "Do-not-Allow-Passing-FQN-to-ETL", "Ignore-LimitedCoexistence-Conflicts", "S3-Presigned-Request",
            "Do-not-Optimize-Listing-Virtual-Dirs", "Disable-Cold-GET", "Streaming-Cold-GET", "S3-Reverse-Proxy",
            "S3-Use-Path-Style", "Do-not-Delete-When-Rebalancing", "Do-not-Set-Control-Plane-ToS",
            "Trust-Crypto-Safe-Checksums", "S3-ListObjectVersions", "Enable-Detailed-Prom-Metrics",
            "Force-Container-CPU-Mem", "Resume-Interrupted-MPU", "Keep-Unknown-FQN", "Load-Balance-GET",
            "Count-Object-NotFound-Stats", "Enable-Go-Runtime-Metrics", "Dload-Allow-Private-Egress",
            "S3-Redirect-Rebuild")
BUCKET_FEATURES = ("Skip-Loading-VersionChecksum-MD", "Fsync-PUT", "S3-Presigned-Request", "Disable-Cold-GET",
                   "Streaming-Cold-GET", "S3-Use-Path-Style", "S3-ListObjectVersions", "Resume-Interrupted-MPU",
                   "Count-Object-NotFound-Stats")


@dataclass(frozen=True)
class Spec:
    """One property: its JSON kind, default, the values it allows (in words) and how to check them."""

    kind: str  # bool | int | str | duration | size | mask
    default: Any
    allowed: str
    check: Callable[[Any], bool] | None = None


def _ints(lo: int, hi: int, zero_ok: bool = False) -> Callable[[Any], bool]:
    return lambda v: (zero_ok and v == 0) or lo <= v <= hi


def _one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda v: v in choices


_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^0$")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": KIB, "kb": KIB, "kib": KIB, "m": MIB, "mb": MIB, "mib": MIB,
               "g": GIB, "gb": GIB, "gib": GIB, "t": TIB, "tb": TIB, "tib": TIB}


def duration_seconds(text: str) -> float | None:
    """A Go duration string ("2h0m", "10m0s", "90s") in seconds, or None."""
    if not isinstance(text, str) or not _DURATION.match(text):
        return None
    return sum(float(n) * _DURATION_UNITS[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)", text))


def size_bytes(value: Any) -> int | None:
    """A size as an int or an IEC string ("1GiB", "5MiB"), in bytes, or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.strip() == "-1":
            return -1
        m = _SIZE.match(value.strip())
        if m:
            return int(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()]
    return None


def _dur(lo_s: float, hi_s: float = float("inf")) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        s = duration_seconds(v)
        return s is not None and (s == 0 or lo_s <= s <= hi_s)
    return check


def _size(lo: int, hi: int, zero_ok: bool = True, minus_one_ok: bool = False) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        n = size_bytes(v)
        return n is not None and ((zero_ok and n == 0) or (minus_one_ok and n == -1) or lo <= n <= hi)
    return check


def _no_outer_spaces(limit: int) -> Callable[[Any], bool]:
    return lambda v: v == v.strip() and len(v) <= limit


def _url_or_empty(v: str) -> bool:
    return v == "" or bool(re.match(r"^https?://[^\s/]+", v))


def _per_op(v: str) -> bool:
    return all(re.fullmatch(r"[a-z]+:[1-9]\d*", part) for part in v.split()) if v else True


_INT32 = (1 << 31) - 2
SCHEMA: dict[str, Spec] = {
    "access": Spec("mask", str(ACCESS_ALL), 'a 64-bit mask as a decimal string (the CLI also takes "ro", "rw", "su")'),
    "features": Spec("mask", "0", f"a mask of bucket-scope feature flags ({', '.join(BUCKET_FEATURES)})"),
    "checksum.type": Spec("str", "xxhash", f"one of {', '.join(CHECKSUM_TYPES)}", _one_of(*CHECKSUM_TYPES)),
    "checksum.validate_cold_get": Spec("bool", False, "true or false"),
    "checksum.validate_warm_get": Spec("bool", False, "true or false"),
    "checksum.validate_obj_move": Spec("bool", False, "true or false"),
    "checksum.enable_read_range": Spec("bool", False, "true or false"),
    "versioning.enabled": Spec("bool", True, "true or false"),
    "versioning.validate_warm_get": Spec("bool", False, "true or false"),
    "versioning.synchronize": Spec("bool", False, "true or false"),
    "lru.enabled": Spec("bool", False, "true or false"),
    "lru.dont_evict_time": Spec("duration", "2h0m", 'a duration of at least 1h ("2h0m"), 0 for the default',
                                _dur(3600)),
    "lru.capacity_upd_time": Spec("duration", "10m0s", 'a duration of at least 10s ("10m"), 0 for the default',
                                  _dur(10)),
    "lru.batch_size": Spec("int", 32768, "an integer in [1024, 524288], 0 for the default", _ints(1024, 524288, True)),
    "mirror.enabled": Spec("bool", False, "true or false"),
    "mirror.copies": Spec("int", 2, "an integer in [1, 32] (1 disables mirroring), 0 for the default",
                          _ints(1, 32, True)),
    "mirror.burst_buffer": Spec("int", 512, "a positive integer, 0 for the default", _ints(1, _INT32, True)),
    "ec.enabled": Spec("bool", False, "true or false"),
    "ec.data_slices": Spec("int", 2, "an integer in [1, 32]", _ints(1, 32, True)),
    "ec.parity_slices": Spec("int", 2, "an integer in [1, 32]", _ints(1, 32, True)),
    "ec.objsize_limit": Spec("int", 262144, "an integer >= -1 (bytes; -1 always replicates)",
                             lambda v: -1 <= v <= MAX_UINT64 >> 1),
    "ec.compression": Spec("str", "never", "one of never, always", _one_of("never", "always", "")),
    "ec.bundle_multiplier": Spec("int", 2, "an integer in [1, 16], 0 for the default", _ints(1, 16, True)),
    "ec.burst_buffer": Spec("int", 512, "an integer in [32, 10000], 0 for the default", _ints(32, 10000, True)),
    "ec.disk_only": Spec("bool", False, "true or false"),
    "chunks.objsize_limit": Spec("size", 0, "a size >= 0 and at most chunks.max_monolithic_size (0: no auto-chunking)",
                                 _size(0, TIB)),
    "chunks.chunk_size": Spec("size", "1GiB", "a size in [1KiB, 5GiB], 0 for the default", _size(KIB, 5 * GIB)),
    "chunks.max_monolithic_size": Spec("size", "1TiB", "a size in [1GiB, 1TiB], 0 for the default",
                                       _size(GIB, TIB)),
    "chunks.checkpoint_every": Spec("int", 0, "an integer in [0, 1024]", _ints(0, 1024)),
    "chunks.flags": Spec("int", 0, "0 (reserved)", _ints(0, 0)),
    "write_policy.data": Spec("str", "immediate", "immediate (the only one implemented by AIS)",
                              _one_of("immediate", "")),
    "write_policy.md": Spec("str", "immediate", "one of immediate, delayed, never",
                            _one_of("immediate", "delayed", "never", "")),
    "rate_limit.backend.enabled": Spec("bool", False, "true or false"),
    "rate_limit.backend.interval": Spec("duration", "1m0s", "a duration in [1s, 1h]", _dur(1, 3600)),
    "rate_limit.backend.max_tokens": Spec("int", 1000, f"an integer in [1, {_INT32}]", _ints(1, _INT32)),
    "rate_limit.backend.num_retries": Spec("int", 3, "an integer in [1, 10]", _ints(1, 10)),
    "rate_limit.backend.per_op_max_tokens": Spec("str", "", 'space-separated verb:N, e.g. "get:5000 put:3500"',
                                                 _per_op),
    "rate_limit.frontend.enabled": Spec("bool", False, "true or false"),
    "rate_limit.frontend.interval": Spec("duration", "1m0s", "a duration in [1s, 1h]", _dur(1, 3600)),
    "rate_limit.frontend.max_tokens": Spec("int", 1000, f"an integer in [1, {_INT32}]", _ints(1, _INT32)),
    "rate_limit.frontend.burst_size": Spec("int", 375, "a positive integer, at most half of max_tokens",
                                           _ints(1, _INT32)),
    "rate_limit.frontend.per_op_max_tokens": Spec("str", "", 'space-separated verb:N, e.g. "get:5000 put:3500"',
                                                  _per_op),
    "backend_bck.name": Spec("str", "", "a bucket name, or empty"),
    "backend_bck.provider": Spec("str", "", f"empty or one of {', '.join(PROVIDERS)}", _one_of("", *PROVIDERS)),
    "backend_bck.namespace.uuid": Spec("str", "", "a remote cluster's uuid or alias, or empty"),
    "backend_bck.namespace.name": Spec("str", "", "a namespace name, or empty"),
    "extra.aws.cloud_region": Spec("str", "", "a region without outer spaces, at most 64 characters",
                                   _no_outer_spaces(64)),
    "extra.aws.endpoint": Spec("str", "", "an http(s) URL with a host, or empty", _url_or_empty),
    "extra.aws.profile": Spec("str", "", "a profile name without outer spaces, at most 256 characters",
                              _no_outer_spaces(256)),
    "extra.aws.max_pagesize": Spec("int", 0, "0 or an integer in [1, 10000]", _ints(0, 10000)),
    "extra.aws.multipart_size": Spec("size", 0, "-1 (single part), 0 (128MiB) or a size in [5MiB, 5GiB]",
                                     _size(5 * MIB, 5 * GIB, minus_one_ok=True)),
    "extra.gcp.application_creds": Spec("str", "", "an absolute, clean path, or empty",
                                        lambda v: v == "" or (v.startswith("/") and "/./" not in v + "/"
                                                              and "/../" not in v + "/")),
    "extra.http.original_url": Spec("str", "", "an http(s) URL with a host, or empty", _url_or_empty),
    "extra.oci.region": Spec("str", "", "a region without outer spaces, at most 64 characters", _no_outer_spaces(64)),
    # S3 bucket versioning (PutBucketVersioning): "" never set, then Enabled or Suspended (docs/design.md).
    "extra.s3.versioning": Spec("str", "", "Enabled or Suspended (empty: never set)",
                                _one_of("", "Enabled", "Suspended")),
    "extra.custom": Spec("str", "", "at most 128 bytes, no control characters",
                         lambda v: len(v.encode()) <= 128 and not any(ord(c) < 32 for c in v)),
}

# Keys the cluster assigns: shown, never set by a client.
READ_ONLY = ("provider", "bid", "created", "renamed")

# What aismesh acts on today; every other key is stored, shown and validated only.
ENFORCED = frozenset({"checksum.type", "checksum.validate_warm_get", "versioning.enabled",
                      "extra.s3.versioning"})

# Sections new buckets get in full (extra.* and rate_limit.* appear once set, as in AIS's JSON).
_DEFAULT_SECTIONS = ("checksum", "versioning", "lru", "mirror", "ec", "chunks", "write_policy", "rate_limit",
                     "backend_bck")


def _set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for p in parents:
        doc = doc.setdefault(p, {})
    doc[leaf] = value


def _leaves(doc: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _leaves(value, path + ".")
        else:
            yield path, value


def flatten(props: dict[str, Any]) -> dict[str, Any]:
    """Dotted key -> value (the CLI's view)."""
    return dict(_leaves(props))


def _defaults() -> dict[str, Any]:
    out: dict[str, Any] = {"extra": {}}
    for path, spec in SCHEMA.items():
        if path.split(".")[0] in _DEFAULT_SECTIONS or "." not in path:
            _set_path(out, path, copy.deepcopy(spec.default))
    return out


def default_props(provider: str, cluster_defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Props a new bucket gets: built-in defaults, overlaid with the cluster config's ones."""
    props = _defaults()
    if cluster_defaults:
        props = merge(props, cluster_defaults, allow_read_only=True)
    props["provider"] = provider
    return props


def with_defaults(props: dict[str, Any]) -> dict[str, Any]:
    """``props`` with every default section filled in (buckets created before a key existed)."""
    return merge(_defaults(), props, allow_read_only=True)


def merge(props: dict[str, Any], partial: dict[str, Any], allow_read_only: bool = False) -> dict[str, Any]:
    """A copy of ``props`` with ``partial`` applied key by key (nested dicts merged, not replaced)."""
    if not isinstance(partial, dict):
        raise InvalidArgument(f"bucket props must be a JSON object, got {type(partial).__name__}")
    out = copy.deepcopy(props)
    for key, value in partial.items():
        if key in READ_ONLY and not allow_read_only:
            raise InvalidArgument(f'bucket property "{key}" is read-only')
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, allow_read_only=True)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _kind_ok(spec: Spec, value: Any) -> bool:
    if spec.kind == "bool":
        return isinstance(value, bool)
    if spec.kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.kind in ("str", "duration"):
        return isinstance(value, str)
    if spec.kind == "size":
        return size_bytes(value) is not None
    if spec.kind == "mask":
        return isinstance(value, str) and value.isdigit() and int(value) <= MAX_UINT64
    return False


def _unknown(path: str) -> InvalidArgument:
    section = path.split(".")[0]
    near = sorted(k for k in SCHEMA if k.split(".")[0] == section) or sorted({k.split(".")[0] for k in SCHEMA})
    return InvalidArgument(f'unknown bucket property "{path}": expected one of {", ".join(near)}')


def validate(props: dict[str, Any]) -> None:
    """Raise InvalidArgument naming the first property that is unknown or whose value is not allowed."""
    for path, value in _leaves(props):
        if path in READ_ONLY:
            continue
        if path == "extra" and value == {}:
            continue
        spec = SCHEMA.get(path)
        if spec is None:
            raise _unknown(path)
        if not _kind_ok(spec, value) or (spec.check is not None and not spec.check(value)):
            shown = value if isinstance(value, str) else repr(value).lower() if isinstance(value, bool) else value
            raise InvalidArgument(f'invalid {path} "{shown}": expected {spec.allowed}')
    flat = flatten(props)
    feats = int(flat.get("features", "0") or 0)
    allowed = sum(1 << FEATURES.index(f) for f in BUCKET_FEATURES)
    if feats & ~allowed:
        bad = [FEATURES[i] if i < len(FEATURES) else f"bit {i}" for i in range(64) if feats & ~allowed & (1 << i)]
        raise InvalidArgument(f'invalid features: {", ".join(bad)} cannot be set on a bucket '
                              f'(bucket-scope flags: {", ".join(BUCKET_FEATURES)})')
    cold = (1 << FEATURES.index("Disable-Cold-GET")) | (1 << FEATURES.index("Streaming-Cold-GET"))
    if feats & cold == cold:
        raise InvalidArgument("invalid features: Disable-Cold-GET and Streaming-Cold-GET exclude each other")
    limit, mono = size_bytes(flat.get("chunks.objsize_limit", 0)), size_bytes(flat.get("chunks.max_monolithic_size", 0))
    if limit and mono and limit > mono:
        raise InvalidArgument(f'invalid chunks.objsize_limit "{flat["chunks.objsize_limit"]}": expected at most '
                              f'chunks.max_monolithic_size ({flat["chunks.max_monolithic_size"]})')
    if flat.get("mirror.enabled") and limit:
        raise InvalidArgument("invalid mirror.enabled \"true\": mirroring and auto-chunking "
                              "(chunks.objsize_limit > 0) exclude each other")
    burst, tokens = flat.get("rate_limit.frontend.burst_size"), flat.get("rate_limit.frontend.max_tokens")
    if isinstance(burst, int) and isinstance(tokens, int) and burst > tokens // 2:
        raise InvalidArgument(f'invalid rate_limit.frontend.burst_size "{burst}": expected at most half of '
                              f"rate_limit.frontend.max_tokens ({tokens})")
    backend = props.get("backend_bck") or {}
    if backend.get("name") and props.get("provider", "ais") != "ais":
        raise InvalidArgument("invalid backend_bck: only ais:// buckets may have a backend bucket")
    problem = backend_bck_error(backend)
    if problem:
        raise InvalidArgument(problem)


# backend_bck: a local ais:// bucket that fronts another one (a remote cluster's, or a cloud
# bucket directly or through a remote cluster); what it reads is cached under the local bucket.
ENFORCED = ENFORCED | frozenset({"backend_bck.name", "backend_bck.provider", "backend_bck.namespace.uuid",
                                 "backend_bck.namespace.name"})
NO_BACKEND = {"name": "", "provider": "", "namespace": {"uuid": "", "name": ""}}


def backend_bck_error(backend: dict[str, Any]) -> str:
    """Why a backend_bck section is unusable, or "" (empty means no backend)."""
    name, provider = backend.get("name") or "", backend.get("provider") or ""
    uuid = (backend.get("namespace") or {}).get("uuid") or ""
    if not name and not provider and not uuid:
        return ""
    if not name or not provider:
        return "invalid backend_bck: both name and provider must be set (e.g. backend_bck=s3://@remais/data)"
    if provider == "ais" and not uuid:
        return (f'invalid backend_bck "ais://{name}": an ais:// backend must be a remote cluster\'s bucket '
                f"(ais://@ALIAS/{name})")
    return ""


def backend_bck_partial(text: str) -> dict[str, Any]:
    """``backend_bck=s3://@remais/data`` (or ``none``) as a partial props document."""
    if text.strip().lower() in ("", "none"):
        return {"backend_bck": copy.deepcopy(NO_BACKEND)}
    b = parse_bck_uri(text.strip())
    return {"backend_bck": {"name": b.name, "provider": b.provider,
                            "namespace": {"uuid": b.ns_uuid, "name": b.ns_name}}}


def not_enforced(props: dict[str, Any]) -> list[str]:
    """Dotted keys set away from their default that aismesh stores but does not act on yet."""
    flat = flatten(props)
    return sorted(k for k, v in flat.items()
                  if k in SCHEMA and k not in ENFORCED and v != SCHEMA[k].default and v not in ("", 0))


def parse_value(path: str, text: str) -> Any:
    """A CLI ``key=value`` value as the JSON the key takes (true -> True, "32" -> 32, "ro" -> mask)."""
    spec = SCHEMA.get(path)
    if spec is None:
        raise _unknown(path)
    if spec.kind == "bool":
        low = text.strip().lower()
        if low in ("true", "t", "1", "yes", "on", "enabled"):
            return True
        if low in ("false", "f", "0", "no", "off", "disabled"):
            return False
        raise InvalidArgument(f'invalid {path} "{text}": expected {spec.allowed}')
    if spec.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise InvalidArgument(f'invalid {path} "{text}": expected {spec.allowed}') from None
    if spec.kind == "mask":
        return _parse_mask(path, text, spec)
    return text


def _parse_mask(path: str, text: str, spec: Spec) -> str:
    low = text.strip()
    if low.isdigit():
        return low
    if path == "access":
        if low.lower() in ACCESS_NAMED:
            return str(ACCESS_NAMED[low.lower()])
        names, table = low.split(","), {n.lower(): i for i, n in enumerate(ACCESS_BITS)}
    else:
        if low.lower() == "none":
            return "0"
        names, table = low.split(","), {n.lower(): i for i, n in enumerate(FEATURES)}
    mask = 0
    for name in names:
        bit = table.get(name.strip().lower())
        if bit is None:
            raise InvalidArgument(f'invalid {path} "{text}": expected {spec.allowed}')
        mask |= 1 << bit
    return str(mask)


def partial_from_pairs(pairs: dict[str, str]) -> dict[str, Any]:
    """``{"versioning.enabled": "false"}`` -> ``{"versioning": {"enabled": False}}`` (typed per SCHEMA)."""
    out: dict[str, Any] = {}
    for path, text in pairs.items():
        if path in READ_ONLY:
            raise InvalidArgument(f'bucket property "{path}" is read-only')
        if path == "backend_bck":  # one URI for the whole section, as AIS's CLI takes it
            out = merge(out, backend_bck_partial(text))
            continue
        _set_path(out, path, parse_value(path, text))
    return out


def checksum_type(props: dict[str, Any]) -> str:
    return str(props.get("checksum", {}).get("type") or "xxhash")


def is_versioned(props: dict[str, Any]) -> bool:
    return bool(props.get("versioning", {}).get("enabled", True))


def s3_versioning(props: dict[str, Any]) -> str:
    """The bucket's S3 versioning status: "" (never set), "Enabled" or "Suspended"."""
    return str(props.get("extra", {}).get("s3", {}).get("versioning", ""))
