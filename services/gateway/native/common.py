"""Request parsing shared by the native handlers: the bucket from path + query, ActMsg bodies."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request

from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.names import Bck, normalize_provider, parse_namespace
from aismesh.cmn.ranges import parse_decimal
from services.gateway import body
from services.gateway.cluster import Cluster

TRUE = ("1", "t", "true", "y", "yes", "on")
MAX_UINT64 = (1 << 64) - 1


def cluster() -> Cluster:
    c: Cluster = current_app.extensions["aismesh.cluster"]
    return c


def bck_from_query(name: str) -> Bck:
    """The bucket named in the path, with ``provider`` and ``namespace`` from the query."""
    provider = normalize_provider(request.args.get("provider", "ais"))
    uuid, ns = parse_namespace(request.args.get("namespace", ""))
    return Bck(name=name, provider=provider, ns_uuid=uuid, ns_name=ns)


def flag(name: str) -> bool:
    """Booleans arrive as true/True/1...; parse them like Go's strconv.ParseBool."""
    return request.args.get(name, "").strip().lower() in TRUE


def action_msg() -> dict[str, Any]:
    """The JSON ActMsg body ({"action","name","value"}), also on GET and DELETE; {} when absent.

    At most body.MAX_PARSED_BODY bytes (else 413); nesting too deep for the parser is a 400."""
    raw = body.read_bounded(request.environ)
    if not raw:
        return {}
    try:
        msg = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid JSON in request body: {e}") from None
    except RecursionError:
        raise InvalidArgument("invalid JSON in request body: nested too deeply") from None
    if not isinstance(msg, dict):
        raise InvalidArgument("request body must be a JSON object (ActMsg)")
    return msg


def msg_value(msg: dict[str, Any], what: str) -> dict[str, Any]:
    """The ActMsg ``value`` as a JSON object ({} when absent or null); ``what`` names it in errors."""
    value = msg.get("value")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f'invalid {what}: "value" must be a JSON object, got {type(value).__name__}')
    return value


def _shown(raw: Any) -> str:
    text = json.dumps(raw)
    return text if len(text) <= 32 else text[:32] + "..."


def int_field(value: dict[str, Any], name: str, what: str, *, hi: int = MAX_UINT64, quoted: bool = False) -> int:
    """A non-negative integer field of an ActMsg value (0 when absent or null), at most ``hi``.

    ``quoted``: a string of decimal digits is also accepted, as Go's ``json:",string"`` sends
    it (the aistore SDK sends LsoMsg flags that way). Floats, booleans and other strings are refused.
    """
    raw = value.get(name)
    if raw is None:
        return 0
    number: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        number = raw
    elif quoted and isinstance(raw, str):
        number = parse_decimal(raw, cap=hi + 1)
    if number is None or not 0 <= number <= hi:
        raise InvalidArgument(f'invalid {what}: "{name}" must be an integer between 0 and {hi}, got {_shown(raw)}')
    return number


def str_field(value: dict[str, Any], name: str, what: str) -> str:
    """A string field of an ActMsg value ("" when absent or null)."""
    raw = value.get(name)
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidArgument(f'invalid {what}: "{name}" must be a string, got {_shown(raw)}')
    return raw
