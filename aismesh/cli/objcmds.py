"""`ais object promote` and `ais blob-download`: objects from files the cluster sees, and large remote objects.

Output follows AIStore's CLI (cmd/cli/cli/object.go, blob_hdlr.go): ``promoted "PATH" => BUCKET``
(``recursively``, and the job id for a directory); ``blob-download[JOB_ID] BUCKET/OBJECT``.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, TextIO

from aismesh.cli import uri
from aismesh.cli.api import API, CLIError
from aismesh.cli.commands import _object, _wait


def object_promote(api: API, args: argparse.Namespace, out: TextIO) -> int:
    try:
        bck, obj = uri.parse(args.dst)
    except ValueError as e:
        raise CLIError(str(e)) from None
    if not bck.name:
        raise CLIError(f'invalid destination "{args.dst}": expected BUCKET[/OBJECT_NAME_or_PREFIX]')
    src = os.path.abspath(args.src)
    value = {"tid": args.target_id, "src": src, "obj": obj, "rcr": args.recursive, "ovw": args.overwrite_dst,
             "dls": args.delete_src, "notshr": args.not_file_share}
    q = bck.query()
    job_id = api.request("POST", f"objects/{bck.name}", query=q, data=_act("promote", src, value),
                         headers={"Content-Type": "application/json"}).body.decode()
    job = f', xaction ID "{job_id}"' if job_id else ""
    out.write(f'{"recursively " if args.recursive else ""}promoted "{src}" => {bck}{job}\n')
    if job_id and args.wait:
        status = _wait(api, job_id, args.timeout)
        if status.get("aborted") or status.get("err"):
            raise CLIError(f"job {job_id} failed: {status.get('err') or 'aborted'}")
        out.write("Done\n")
    return 0


def blob_download(api: API, args: argparse.Namespace, out: TextIO) -> int:
    if args.list:
        bck, rest = uri.parse(args.object)
        if rest or not bck.name:
            raise CLIError(f'invalid "{args.object}": with --list, expected a BUCKET')
        names = [n.strip() for n in args.list.split(",") if n.strip()]
    else:
        bck, name = _object(args.object)
        names = [name]
    if not bck.provider or (bck.provider == "ais" and not bck.ns_uuid):
        raise CLIError(f"expecting remote bucket (have {bck})")
    value: dict[str, Any] = {"latest-ver": args.latest}
    if args.chunk_size:
        value["chunk-size"] = args.chunk_size
    if args.num_workers:
        value["num-workers"] = args.num_workers
    for name in names:
        job_id = api.request("POST", f"objects/{bck.name}", query=bck.query(),
                             data=_act("blob-download", name, value),
                             headers={"Content-Type": "application/json"}).body.decode()
        text = f"blob-download[{job_id}] {bck}/{name}"
        if not args.wait:
            out.write(f"{text}. To monitor the progress, run 'ais show job {job_id}'\n")
            continue
        status = _wait(api, job_id, args.timeout)
        if status.get("aborted") or status.get("err"):
            raise CLIError(f"{text} failed: {status.get('err') or 'aborted'}")
        out.write(f"{text}: done\n")
    return 0


def _act(action: str, name: str, value: Any) -> bytes:
    return json.dumps({"action": action, "name": name, "value": value}).encode()


def add_parsers(osub: Any, sub: Any, cmd: Any) -> None:
    """``object promote`` under ``ais object``; ``ais blob-download``."""
    p = osub.add_parser("promote", help="promote files and directories the cluster can read (under its promote "
                                        "roots) into objects")
    p.add_argument("src", metavar="FILE|DIRECTORY")
    p.add_argument("dst", metavar="BUCKET[/OBJECT_NAME_or_PREFIX]")
    p.add_argument("--recursive", "-r", action="store_true", help="promote subdirectories too")
    p.add_argument("--overwrite-dst", "-o", action="store_true", help="overwrite objects that exist")
    p.add_argument("--delete-src", action="store_true", help="remove each source file once promoted")
    p.add_argument("--target-id", default="", help="accepted for compatibility (every node sees the same files)")
    p.add_argument("--not-file-share", action="store_true", help="accepted for compatibility")
    p.add_argument("--wait", action="store_true", help="wait until the promote job ends (directories)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (with --wait)")
    cmd(p, object_promote)
    p = sub.add_parser("blob-download", help="download a large object from a remote bucket into the cluster (a job)")
    p.add_argument("object", metavar="BUCKET/OBJECT_NAME")
    p.add_argument("--list", default="", help="comma-separated object names (the argument is then the bucket)")
    p.add_argument("--chunk-size", type=int, default=0, help="bytes per chunk (4KiB..16GiB)")
    p.add_argument("--num-workers", type=int, default=0, help="concurrent chunk readers")
    p.add_argument("--latest", action="store_true", help="check the remote for the latest version first")
    p.add_argument("--wait", action="store_true", help="wait until the job ends")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (with --wait)")
    cmd(p, blob_download)
