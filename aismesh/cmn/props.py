"""Bucket properties in AIS's shape (Bprops): defaults, partial updates and validation.

Pure functions over plain dicts: the metadata service applies them inside its etcd
transactions, the front ends read the result (``checksum.type``, ``versioning.enabled``...).
"""

from __future__ import annotations

import copy
from typing import Any

from aismesh.cmn.checksum import TYPES as CHECKSUM_TYPES
from aismesh.cmn.errors import InvalidArgument

ACCESS_ALL = (1 << 64) - 1

_DEFAULTS: dict[str, Any] = {
    "checksum": {
        "type": "xxhash",
        "validate_cold_get": False,
        "validate_warm_get": False,
        "validate_obj_move": False,
        "enable_read_range": False,
    },
    "versioning": {"enabled": True, "validate_warm_get": False, "synchronize": False},
    "lru": {"enabled": False, "dont_evict_time": "2h0m", "capacity_upd_time": "10m0s"},
    "mirror": {"enabled": False, "copies": 2, "burst_buffer": 512},
    "ec": {"enabled": False, "data_slices": 2, "parity_slices": 2, "objsize_limit": 262144,
           "compression": "never"},
    "write_policy": {"data": "immediate", "md": "immediate"},
    "backend_bck": {"name": "", "provider": "", "namespace": {"uuid": "", "name": ""}},
    "extra": {},
    "access": str(ACCESS_ALL),
    "features": "0",
}

# Keys a client may not set: the cluster assigns them.
_READ_ONLY = ("provider", "bid", "created")


def default_props(provider: str, cluster_defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Props a new bucket gets: built-in defaults, overlaid with the cluster config's ones."""
    props = copy.deepcopy(_DEFAULTS)
    if cluster_defaults:
        props = merge(props, cluster_defaults, allow_read_only=True)
    props["provider"] = provider
    return props


def merge(props: dict[str, Any], partial: dict[str, Any], allow_read_only: bool = False) -> dict[str, Any]:
    """A copy of ``props`` with ``partial`` applied key by key (nested dicts merged, not replaced)."""
    if not isinstance(partial, dict):
        raise InvalidArgument(f"bucket props must be a JSON object, got {type(partial).__name__}")
    out = copy.deepcopy(props)
    for key, value in partial.items():
        if key in _READ_ONLY and not allow_read_only:
            raise InvalidArgument(f'bucket property "{key}" is read-only')
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, allow_read_only=True)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate(props: dict[str, Any]) -> None:
    """Raise InvalidArgument naming the first property whose value is not allowed."""
    cks = props.get("checksum", {}).get("type")
    if cks not in CHECKSUM_TYPES:
        raise InvalidArgument(
            f'invalid checksum.type "{cks}": expected one of {", ".join(CHECKSUM_TYPES)}'
        )
    for section in ("checksum", "versioning", "lru", "mirror", "ec"):
        for key, value in props.get(section, {}).items():
            if key in ("enabled", "validate_cold_get", "validate_warm_get", "validate_obj_move",
                       "enable_read_range", "synchronize") and not isinstance(value, bool):
                raise InvalidArgument(f'invalid {section}.{key} "{value}": expected true or false')
    try:
        int(props.get("access", "0"))
        int(props.get("features", "0"))
    except (TypeError, ValueError):
        raise InvalidArgument("access and features must be integers (as strings)") from None


def checksum_type(props: dict[str, Any]) -> str:
    return str(props.get("checksum", {}).get("type") or "xxhash")


def is_versioned(props: dict[str, Any]) -> bool:
    return bool(props.get("versioning", {}).get("enabled", True))
