"""Request parsing shared by the native handlers: the bucket from path + query, ActMsg bodies."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request

from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.names import Bck, normalize_provider, parse_namespace
from services.gateway.cluster import Cluster

TRUE = ("1", "t", "true", "y", "yes", "on")


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
    """The JSON ActMsg body ({"action","name","value"}), also on GET and DELETE; {} when absent."""
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        msg = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid JSON in request body: {e}") from None
    if not isinstance(msg, dict):
        raise InvalidArgument("request body must be a JSON object (ActMsg)")
    return msg
