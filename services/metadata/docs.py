"""The metadata documents (BMD, Smap, config, remotes) as plain dicts, and pure changes to them.

Each function takes the current document and returns a new one with ``version`` one higher;
the etcd layer runs it inside a compare-and-swap transaction. Nothing here does I/O.
"""

from __future__ import annotations

import copy
import json
import re
import time
from typing import Any

import xxhash

from aismesh.cmn import errors, features, hrw, props
from aismesh.cmn.names import Bck, identity_error

Doc = dict[str, Any]
NODE_TYPES = ("target", "proxy")
_ALIAS = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")


def checksum(doc: Doc) -> str:
    """xxhash64 of the canonical JSON of ``doc`` without its checksum (AIS metadata is checksummed)."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return xxhash.xxh64_hexdigest(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def seal(doc: Doc) -> Doc:
    """Bump the version and recompute the checksum: every change goes through here."""
    out = dict(doc)
    out["version"] = int(doc.get("version", 0)) + 1
    out["checksum"] = {"type": "xxhash", "value": checksum(out)}
    return out


def encode(doc: Doc) -> str:
    return json.dumps(doc, indent=2, sort_keys=True)


# --- BMD -------------------------------------------------------------------------------------


def new_bmd(uuid: str) -> Doc:
    return {"version": 0, "uuid": uuid, "buckets": {}}


def not_found(bck: Bck) -> errors.BucketNotFound:
    """AIS's wording, which the aistore SDK classifies by regex."""
    if bck.provider == "ais" and not bck.ns_uuid:
        msg = f'bucket "{bck.display()}" does not exist'
    elif bck.provider == "ais":
        msg = f'remote bucket "{bck.display()}" does not exist'
    else:
        msg = f'{bck.provider} bucket "{bck.display()}" does not exist'
    return errors.BucketNotFound(msg, bck=bck.to_proto())


def create_bucket(bmd: Doc, bck: Bck, partial: Doc | None, defaults: Doc | None, now_ns: int) -> Doc:
    """BMD with ``bck`` added; its bid is the new BMD version (unique, growing)."""
    problem = identity_error(bck)
    if problem:
        raise errors.InvalidArgument(problem, bck=bck.to_proto())
    if bck.uname in bmd["buckets"]:
        raise errors.AlreadyExists(f'bucket "{bck.display()}" already exists', bck=bck.to_proto())
    p = props.default_props(bck.provider, defaults)
    if partial:
        p = props.merge(p, partial)
    props.validate(p)
    bid = int(bmd.get("version", 0)) + 1
    p["bid"], p["created"] = str(bid), str(now_ns)
    out = copy.deepcopy(bmd)
    out["buckets"][bck.uname] = {"bid": bid, "created": now_ns, "props": p}
    return seal(out)


def destroy_bucket(bmd: Doc, bck: Bck) -> Doc:
    if bck.uname not in bmd["buckets"]:
        raise not_found(bck)
    out = copy.deepcopy(bmd)
    del out["buckets"][bck.uname]
    return seal(out)


def set_bucket_props(bmd: Doc, bck: Bck, partial: Doc, reset: bool, defaults: Doc | None) -> Doc:
    entry = bmd["buckets"].get(bck.uname)
    if entry is None:
        raise not_found(bck)
    current = entry["props"]
    base = props.default_props(bck.provider, defaults) if reset else current
    p = props.merge(base, partial) if partial else copy.deepcopy(base)
    p["bid"], p["created"] = current["bid"], current["created"]
    props.validate(p)
    out = copy.deepcopy(bmd)
    out["buckets"][bck.uname]["props"] = p
    return seal(out)


# --- Smap ------------------------------------------------------------------------------------


def new_smap(uuid: str) -> Doc:
    return {"version": 0, "uuid": uuid, "primary_id": "", "nodes": {}}


def upsert_node(smap: Doc, node: Doc, now_ns: int) -> Doc:
    """The node joins (or comes back) online; a returning node keeps its join time."""
    if not node.get("id"):
        raise errors.InvalidArgument("node id is empty")
    if node.get("type") not in NODE_TYPES:
        raise errors.InvalidArgument(f'node type "{node.get("type")}" is invalid: expected target or proxy')
    old = smap["nodes"].get(node["id"], {})
    fresh = {
        "id": node["id"], "type": node["type"], "grpc_addr": node.get("grpc_addr", ""),
        "public_url": node.get("public_url", ""), "mountpaths": list(node.get("mountpaths", [])),
        "state": "online", "id_digest": hrw.digest(node["id"]), "joined": old.get("joined", now_ns),
        "local_socket": node.get("local_socket", ""), "host_id": node.get("host_id", ""),
    }
    if old == fresh:
        return smap
    out = copy.deepcopy(smap)
    out["nodes"][node["id"]] = fresh
    if not out.get("primary_id") and node["type"] == "proxy":
        out["primary_id"] = node["id"]
    return seal(out)


def set_node_state(smap: Doc, node_id: str, state: str) -> Doc:
    node = smap["nodes"].get(node_id)
    if node is None:
        raise errors.NotFound(f'node "{node_id}" is not in the cluster map')
    if node["state"] == state:
        return smap
    out = copy.deepcopy(smap)
    out["nodes"][node_id]["state"] = state
    return seal(out)


def remove_node(smap: Doc, node_id: str) -> Doc:
    if node_id not in smap["nodes"]:
        raise errors.NotFound(f'node "{node_id}" is not in the cluster map')
    out = copy.deepcopy(smap)
    del out["nodes"][node_id]
    if out.get("primary_id") == node_id:
        out["primary_id"] = ""
    return seal(out)


# --- remotes and config ----------------------------------------------------------------------


def new_remotes() -> Doc:
    return {"version": 0, "remotes": []}


def alias_error(alias: str) -> str:
    if not _ALIAS.match(alias) or alias == "what" or ".." in alias:
        return (f'invalid remote cluster alias "{alias}": at least 2 letters, numbers, "-", "_" or ".", '
                'and not "what"')
    return ""


def attach_remote(remotes: Doc, alias: str, url: str, uuid: str = "", smap_json: str = "",
                  seen_ns: int = 0) -> Doc:
    """Attach (or, for an alias already attached to the same URL, refresh what is known of) a
    remote cluster; the remote need not have answered (``uuid`` empty)."""
    problem = alias_error(alias)
    if problem:
        raise errors.InvalidArgument(problem)
    if not url.startswith(("http://", "https://")):
        raise errors.InvalidArgument(f'invalid remote cluster URL "{url}": expected http(s)://host:port')
    known = {"uuid": uuid, "smap_json": smap_json, "seen_ns": seen_ns} if uuid else {}
    for i, r in enumerate(remotes["remotes"]):
        if r["alias"] == alias and r["url"] != url:
            raise errors.AlreadyExists(f'remote cluster alias "{alias}" is already attached to {r["url"]}')
        if uuid and r["alias"] != alias and r.get("uuid") == uuid:
            raise errors.AlreadyExists(f'remote cluster {uuid} is already attached as "{r["alias"]}"')
        if r["alias"] == alias:
            if not known or all(r.get(k) == v for k, v in known.items()):
                return remotes
            out = copy.deepcopy(remotes)
            out["remotes"][i].update(known)
            return seal(out)
    out = copy.deepcopy(remotes)
    out["remotes"].append({"alias": alias, "url": url, **({"uuid": ""} | known)})
    out["remotes"].sort(key=lambda r: r["alias"])
    return seal(out)


def detach_remote(remotes: Doc, alias: str) -> Doc:
    if not any(r["alias"] == alias for r in remotes["remotes"]):
        raise errors.NotFound(f'remote cluster "{alias}": not found')
    out = copy.deepcopy(remotes)
    out["remotes"] = [r for r in out["remotes"] if r["alias"] != alias]
    return seal(out)


def new_config() -> Doc:
    return {"version": 0, "features": "0", "bucket_defaults": {}}


def set_config(config: Doc, partial: Doc) -> Doc:
    """The config with ``partial`` merged in; unchanged (the same object) when nothing changes."""
    if not isinstance(partial, dict):
        raise errors.InvalidArgument("config must be a JSON object")
    for key in ("version", "checksum"):
        if key in partial:
            raise errors.InvalidArgument(f'config key "{key}" is read-only')
    partial = dict(partial)
    if "features" in partial:  # kept as AIS shows it: a quoted decimal mask
        partial["features"] = str(features.parse(partial["features"]))
    if S3_AUTH in partial:
        partial[S3_AUTH] = s3_auth_value(partial[S3_AUTH])
    merged = props.merge(config, partial, allow_read_only=True)
    if S3_AUTH in partial:  # the key pair is replaced whole, never merged with the old one
        merged[S3_AUTH] = partial[S3_AUTH]
    if merged == config:
        return config
    return seal(merged)


# The S3 front end's access key pair; empty strings mean no keys (requests are not authenticated).
# The secret is kept as the rest of the config is: etcd must be protected accordingly.
S3_AUTH = "s3_auth"


def s3_auth_value(value: Any) -> Doc:
    """A valid ``s3_auth`` section: both keys set, or both empty."""
    if not isinstance(value, dict) or set(value) - {"access_key", "secret_key"}:
        raise errors.InvalidArgument('s3_auth must be {"access_key": "...", "secret_key": "..."}')
    access, secret = value.get("access_key", ""), value.get("secret_key", "")
    if not isinstance(access, str) or not isinstance(secret, str):
        raise errors.InvalidArgument("s3_auth access_key and secret_key must be strings")
    if bool(access) != bool(secret):
        raise errors.InvalidArgument("s3_auth needs both access_key and secret_key (or neither)")
    if any(c in access for c in "/ \t\n"):
        raise errors.InvalidArgument("s3_auth access_key must not contain '/' or whitespace")
    return {"access_key": access, "secret_key": secret}


def start_config(config: Doc, access_key: str = "", secret_key: str = "", s3_at_root: bool = False) -> Doc:
    """The config after what a service start asked for (``aismesh up --s3-access-key ... --s3-at-root``):
    keys given replace the stored pair, the flag is added; what was not asked for stays as stored."""
    partial: Doc = {}
    if access_key or secret_key:
        partial[S3_AUTH] = {"access_key": access_key, "secret_key": secret_key}
    if s3_at_root:
        partial["features"] = str(features.parse(config.get("features", "0")) | features.S3_API_VIA_ROOT)
    return set_config(config, partial) if partial else config


def now_ns() -> int:
    return time.time_ns()
