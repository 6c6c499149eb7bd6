"""Cluster feature flags: AIStore's 64-bit mask in the cluster config (``features``), by name.

The config keeps the mask as a quoted decimal (``"8"``), as AIS shows it; a change may name
the flags instead (``"S3-API-via-Root"``, comma-separated, or ``"none"``).
"""

from __future__ import annotations

from aismesh.cmn.errors import InvalidArgument

# Bit positions as AIStore numbers them (cmn/feat); aismesh acts on the ones it implements.
NAMES = (
    "Enforce-IntraCluster-Access", "Skip-Loading-VersionChecksum-MD", "Do-not-Auto-Detect-FileShare",
    "S3-API-via-Root", "Fsync-PUT", "LZ4-Block-1MB", "LZ4-Frame-Checksum", "Do-not-Allow-Passing-FQN-to-ETL",
    "Ignore-LimitedCoexistence-Conflicts", "S3-Presigned-Request", "Do-not-Optimize-Listing-Virtual-Dirs",
    "Disable-Cold-GET", "Streaming-Cold-GET", "S3-Reverse-Proxy", "S3-Use-Path-Style",
    "Do-not-Delete-When-Rebalancing", "Do-not-Set-Control-Plane-ToS", "Trust-Crypto-Safe-Checksums",
    "S3-ListObjectVersions", "Enable-Detailed-Prom-Metrics", "Force-Container-CPU-Mem", "Resume-Interrupted-MPU",
    "Keep-Unknown-FQN", "Load-Balance-GET", "Count-Object-NotFound-Stats", "Enable-Go-Runtime-Metrics",
    "Dload-Allow-Private-Egress", "S3-Redirect-Rebuild",
)
S3_API_VIA_ROOT = 1 << NAMES.index("S3-API-via-Root")
STREAMING_COLD_GET = 1 << NAMES.index("Streaming-Cold-GET")
MAX_MASK = (1 << 64) - 1


def parse(value: object) -> int:
    """A features value as a mask: a decimal number, or flag names (comma-separated), or "none"."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise InvalidArgument(f"features must be a number or flag names, got {value!r}")
    if text.isdigit():
        mask = int(text)
        if mask > MAX_MASK:
            raise InvalidArgument(f"features {text} does not fit in 64 bits")
        return mask
    mask = 0
    by_lower = {n.lower(): i for i, n in enumerate(NAMES)}
    for name in (t.strip() for t in text.split(",")):
        if not name or name.lower() == "none":
            continue
        if name.lower() not in by_lower:
            raise InvalidArgument(f'unknown feature flag "{name}": expected a number or one of {", ".join(NAMES)}')
        mask |= 1 << by_lower[name.lower()]
    return mask


def is_set(features: object, bit: int) -> bool:
    """Whether a stored features value (quoted decimal) has ``bit``; a bad value has none."""
    try:
        return bool(parse(features) & bit)
    except InvalidArgument:
        return False


def names(mask: int) -> list[str]:
    return [n for i, n in enumerate(NAMES) if mask & (1 << i)]
