"""`ais object cat` and `ais archive put|bucket|ls|get`: reading objects to stdout, and shards.

Output follows AIStore's CLI (cmd/cli/cli/arch_hdlr.go, get.go): ``Archived SRC/WHAT => DST``,
``APPEND FILE to DST as "PATH"``, the ``NAME SIZE`` table with archived files indented under
their shard, ``GET PATH from SHARD as "OUT" (SIZE)``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import time
import zipfile
from typing import Any, BinaryIO, TextIO

import lz4.frame

from aismesh.cli import fmt, uri
from aismesh.cli.api import API, CLIError
from aismesh.cli.commands import _object, _wait

ARCH_EXTS = (".tar.lz4", ".tar.gz", ".tgz", ".tar", ".zip")
FLAG_ARCH_DIR = 1 << 3
ENTRY_IN_ARCH = 1 << 7
ARCH_APPEND, ARCH_APPEND_IF_EXIST = 1, 2  # apc.ArchAppend, apc.ArchAppendIfExist: header Ais-Pine


def _copy_to(resp: Any, sink: BinaryIO) -> int:
    total = 0
    while chunk := resp.read(1 << 20):
        sink.write(chunk)
        total += len(chunk)
    sink.flush()
    return total


def _range(offset: int | None, length: int | None) -> dict[str, str]:
    if offset is None and length is None:
        return {}
    if offset is None or length is None:
        raise CLIError("--offset and --length must be both present (or not)")
    if offset < 0 or length <= 0:
        raise CLIError(f"invalid range: --offset {offset} --length {length} (offset >= 0, length > 0)")
    return {"Range": f"bytes={offset}-{offset + length - 1}"}


# --- object cat --------------------------------------------------------------------------------

def object_cat(api: API, args: argparse.Namespace, out: TextIO) -> int:
    bck, name = _object(args.object)
    query = bck.query()
    if args.archpath:
        query["archpath"] = args.archpath
    resp: Any = api.request("GET", api.object_path(bck, name), query=query,
                            headers=_range(args.offset, args.length), stream=True)
    with resp:
        _copy_to(resp, sys.stdout.buffer)
    return 0


# --- archive put: one local file into a shard --------------------------------------------------

def archive_put(api: API, args: argparse.Namespace, out: TextIO) -> int:
    if "://" in args.src and "://" in args.dst:
        raise CLIError("expecting FILE BUCKET/SHARD_NAME\n"
                       "(hint: use 'ais archive bucket' command, see --help for details)")
    bck, shard = _object(args.dst)
    _shard_name(shard, args.dst)
    if args.append and args.append_or_put:
        raise CLIError("--append and --append-or-put are mutually exclusive")
    if args.src == "-":
        if not args.archpath:
            raise CLIError("reading from standard input needs --archpath (the file's name in the archive)")
        data: bytes | BinaryIO = sys.stdin.buffer.read()
        size = len(data)  # type: ignore[arg-type]
    elif os.path.isfile(args.src):
        size = os.path.getsize(args.src)
        data = open(args.src, "rb")  # noqa: SIM115 (closed below)
    elif os.path.isdir(args.src):
        return _archive_put_dir(api, args, bck, shard, out)
    else:
        raise CLIError(f'"{args.src}" does not exist')
    archpath = args.archpath or os.path.basename(args.src)
    flags = ARCH_APPEND if args.append else ARCH_APPEND_IF_EXIST if args.append_or_put else 0
    headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
    if flags:
        headers["Ais-Pine"] = str(flags)
    query = {**bck.query(), "archpath": archpath}
    try:
        if not args.dry_run:
            api.request("PUT", api.object_path(bck, shard), query=query, data=data, headers=headers)
    finally:
        if not isinstance(data, bytes):
            data.close()
    msg = f"{'[DRY RUN] ' if args.dry_run else ''}APPEND {args.src} to {bck}/{shard}"
    if archpath != args.src:
        msg += f' as "{archpath}"'
    out.write(msg + "\n")
    return 0


def _archive_put_dir(api: API, args: argparse.Namespace, bck: uri.BucketURI, shard: str, out: TextIO) -> int:
    """A directory: each file appended to the shard under ``--archpath`` + its relative path (one request a
    file; the shard is rewritten each time, so this suits directories of tens of files, not thousands)."""
    if not args.append and not args.append_or_put:
        if not args.yes:
            raise CLIError("multi-file 'archive put' operation requires either '--append' or '--append-or-put' "
                           "option (or --yes to assume '--append-or-put')")
        args.append_or_put = True
    files: list[str] = []
    for dirpath, dirnames, filenames in os.walk(args.src):
        dirnames[:] = sorted(dirnames) if args.recursive else []
        files.extend(os.path.join(dirpath, f) for f in sorted(filenames)
                     if os.path.isfile(os.path.join(dirpath, f)))
    if not files:
        hint = "" if args.recursive else " (use -r for subdirectories)"
        raise CLIError(f'"{args.src}" has no files to archive{hint}')
    how = "recursive" if args.recursive else "non-recursive"
    out.write(f"{'[DRY RUN] ' if args.dry_run else ''}APPEND {len(files)} files (one directory, {how}) => "
              f"{bck}/{shard}\n")
    if args.dry_run:
        return 0
    flags = ARCH_APPEND if args.append else ARCH_APPEND_IF_EXIST
    for path in files:
        name = args.archpath + os.path.relpath(path, args.src).replace(os.sep, "/")
        with open(path, "rb") as f:
            api.request("PUT", api.object_path(bck, shard), query={**bck.query(), "archpath": name}, data=f,
                        headers={"Content-Length": str(os.path.getsize(path)), "Ais-Pine": str(flags),
                                 "Content-Type": "application/octet-stream"})
    out.write("Done\n")
    return 0


def _shard_name(name: str, text: str) -> None:
    if not name.lower().endswith(ARCH_EXTS):
        raise CLIError(f'invalid shard name "{text}": expected one of the archive formats '
                       f"({', '.join(ARCH_EXTS)})")


# --- archive bucket: objects into a shard (an "archive" job) -----------------------------------

def archive_bucket(api: API, args: argparse.Namespace, out: TextIO) -> int:
    if args.dst:
        src, what = uri.parse(args.src)
        dst, shard = _object(args.dst)
        if not src.name:
            raise CLIError(f'invalid source "{args.src}": expected BUCKET[/OBJECT_NAME_or_TEMPLATE]')
    else:  # one argument: the shard, in the bucket its objects come from
        dst, shard = _object(args.src)
        src, what = dst, ""
    _shard_name(shard, args.dst or args.src)
    selectors = [s for s in (what, args.template, args.list, args.prefix) if s]
    if len(selectors) > 1:
        raise CLIError("give one of: OBJECT_NAME_or_TEMPLATE in the source, --template, --list, --prefix")
    value: dict[str, Any] = {"tobck": {"name": dst.name, "provider": dst.provider,
                                       "namespace": {"uuid": dst.ns_uuid, "name": dst.ns_name}},
                             "archname": shard, "isbn": args.include_src_bck, "coer": args.cont_on_err,
                             "aate": args.append_or_put}
    if args.list:
        names = [n.strip() for n in args.list.split(",") if n.strip()]
        value["objnames"] = names
        shown = ", ".join(names)
    else:
        value["template"] = what or args.template or args.prefix
        shown = value["template"]
    done = f"Archived {src}/{shown} => {dst}/{shard}"
    if args.dry_run:
        out.write(f"[DRY RUN] {done}\n")
        return 0
    job_id = api.bucket(src, "PUT", "archive", value).body.decode()
    if args.wait:
        status = _wait(api, job_id, args.timeout)
        if status.get("aborted") or status.get("err"):
            raise CLIError(f"job {job_id} failed: {status.get('err') or 'aborted'}")
    else:  # as AIStore's CLI: give the shard a moment to appear, then report
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and not api.cluster_what("status", {"ID": job_id}).get("end_time"):
            time.sleep(0.1)
    out.write(done + "\n")
    return 0


# --- archive ls --------------------------------------------------------------------------------

def archive_ls(api: API, args: argparse.Namespace, out: TextIO) -> int:
    bck, name = uri.parse(args.shard)
    if not bck.name:
        raise CLIError(f'invalid "{args.shard}": expected BUCKET[/SHARD_NAME]')
    prefix = args.prefix or name
    entries = list(api.iter_objects(bck, prefix=prefix, props="name,size", flags=FLAG_ARCH_DIR))
    if name:  # one shard: itself and its files, not every object that shares the prefix
        entries = [e for e in entries if e["name"] == name or e["name"].startswith(name + "/")]
    if args.json:
        fmt.dump_json(out, entries)
        return 0
    if not entries and name:
        raise CLIError(f"{bck}/{name} does not exist")
    props = [p.strip() for p in (args.props or "name,size").split(",") if p.strip()]
    bad = [p for p in props if p not in ("name", "size")]
    if bad:
        raise CLIError(f'invalid --props "{bad[0]}": archived files have a name and a size')
    with_size = "size" in props
    rows = []
    for e in _members_sorted(entries):
        in_arch = bool(int(e.get("flags", 0)) & ENTRY_IN_ARCH)
        name = ("    " if in_arch else "") + e["name"]
        rows.append((name, fmt.size_iec(int(e.get("size", 0)))) if with_size else (name,))
    fmt.table(out, ("NAME", "SIZE") if with_size else ("NAME",), rows)
    return 0


def _members_sorted(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each shard's files sorted by name under it, as AIStore shows them (the listing has archive order)."""
    out: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []
    for e in [*entries, None]:
        if e is not None and int(e.get("flags", 0)) & ENTRY_IN_ARCH:
            run.append(e)
            continue
        out.extend(sorted(run, key=lambda x: x["name"]))
        run = []
        if e is not None:
            out.append(e)
    return out


# --- archive get -------------------------------------------------------------------------------

def split_shard(name: str) -> tuple[str, str]:
    """``a/b.tar/x/y.jpg`` -> (``a/b.tar``, ``x/y.jpg``); a name with no archive inside -> (name, "")."""
    low = name.lower()
    best = -1
    for ext in ARCH_EXTS:
        i = low.find(ext + "/")
        while i >= 0:
            if best < 0 or i + len(ext) < best:
                best = i + len(ext)
            i = low.find(ext + "/", i + 1)
    if best < 0:
        return name, ""
    return name[:best], name[best + 1:]


def archive_get(api: API, args: argparse.Namespace, out: TextIO) -> int:
    bck, full = _object(args.src)
    shard, implied = split_shard(full)
    archpath = args.archpath or implied
    if args.archpath and implied:
        raise CLIError(f'"{args.src}" names a file inside the shard and --archpath names another: give one')
    _shard_name(shard, args.src)
    query = bck.query()
    if args.archregx:
        if archpath:
            raise CLIError("give --archpath (one file) or --archregx (matching files, as a tar), not both")
        query.update(archregx=args.archregx, archmode=args.archmode)
    elif archpath:
        query["archpath"] = archpath
    extract = not archpath and not args.archregx  # the whole shard: saved, then extracted next to it
    dst = args.dst or os.path.basename(archpath or shard)
    if extract and dst == "-":
        raise CLIError("cannot extract archived files to standard output (give --archpath, or an output file)")
    if os.path.isdir(dst):
        dst = os.path.join(dst, os.path.basename(archpath or shard))
    resp: Any = api.request("GET", api.object_path(bck, shard), query=query, stream=True)
    with resp:
        if dst == "-":
            _copy_to(resp, sys.stdout.buffer)
            return 0
        tmp = dst + ".ais-partial"
        with open(tmp, "wb") as f:
            total = _copy_to(resp, f)
        os.replace(tmp, dst)
    size = fmt.size_iec(total)
    if extract:
        into = extract_shard(dst, shard)
        out.write(f'GET {shard} from {bck} as "{dst}" ({size}) and extract to {into}/\n')
    else:
        what = archpath or f"{args.archregx} ({args.archmode})"
        out.write(f"GET {what} from {bck}/{shard} as {dst} ({size})\n")
    return 0


def extract_shard(path: str, shard: str) -> str:
    """Unpack the local shard file into a directory named like it without the extension; answer the directory.
    Member names that would land outside it (absolute, ``..``, links out) are refused."""
    low = path.lower()
    ext = next((e for e in ARCH_EXTS if low.endswith(e)), "")
    into = path[: len(path) - len(ext)] if ext else path + ".d"
    os.makedirs(into, exist_ok=True)
    try:
        if ext == ".zip":
            with zipfile.ZipFile(path) as z:
                root = os.path.realpath(into)
                for info in z.infolist():
                    target = os.path.realpath(os.path.join(into, info.filename))
                    if not target.startswith(root + os.sep):
                        raise CLIError(f'{shard}: member "{info.filename}" would be written outside {into}')
                z.extractall(into)
        elif ext == ".tar.lz4":
            with lz4.frame.open(path, "rb") as framed, tarfile.open(fileobj=framed, mode="r|") as t:
                t.extractall(into, filter="data")
        else:
            with tarfile.open(path, "r:*") as t:
                t.extractall(into, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError, RuntimeError) as e:
        raise CLIError(f"failed to extract {shard}: {e}") from None
    return into


def add_parsers(osub: Any, sub: Any, cmd: Any, parser_class: type) -> None:
    """``object cat`` under ``ais object``, and the ``ais archive`` tree."""
    p = osub.add_parser("cat", help="print an object's content to standard output (same as Linux 'cat')")
    p.add_argument("object", metavar="BUCKET/OBJECT")
    p.add_argument("--offset", type=int, default=None, help="object read offset (with --length)")
    p.add_argument("--length", type=int, default=None, help="object read length (with --offset)")
    p.add_argument("--archpath", default="", help="a file inside the shard, to print instead")
    cmd(p, object_cat)

    arch = sub.add_parser("archive", help="archive objects and local files as shards; list and read shards")
    asub = arch.add_subparsers(dest="archive_command", metavar="COMMAND", parser_class=parser_class, required=True)
    p = asub.add_parser("bucket", help="archive objects of SRC_BUCKET[/OBJECT_NAME_or_TEMPLATE] as DST_BUCKET/SHARD")
    p.add_argument("src", metavar="SRC_BUCKET[/OBJECT_NAME_or_TEMPLATE]")
    p.add_argument("dst", nargs="?", default="", metavar="DST_BUCKET/SHARD_NAME")
    p.add_argument("--template", default="", help='objects matching a template, e.g. "shard-{000..099}.jpg"')
    p.add_argument("--list", default="", help="comma-separated object names")
    p.add_argument("--prefix", default="", help="objects with names starting with this prefix")
    p.add_argument("--append-or-put", action="store_true", help="append to the shard if it exists")
    p.add_argument("--include-src-bck", action="store_true", help="prefix archived names with the source bucket")
    p.add_argument("--cont-on-err", action="store_true", help="skip objects that are gone")
    p.add_argument("--dry-run", action="store_true", help="show what would be archived, archive nothing")
    p.add_argument("--wait", action="store_true", help="wait until the archive job ends")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (with --wait)")
    cmd(p, archive_bucket)
    p = asub.add_parser("put", help="archive a local file, a directory, or - (standard input) into BUCKET/SHARD")
    p.add_argument("src", metavar="FILE|DIRECTORY|-")
    p.add_argument("dst", metavar="BUCKET/SHARD_NAME")
    p.add_argument("--archpath", default="", help="the file's name in the shard (default: its base name)")
    p.add_argument("--append", action="store_true", help="add to the shard, which must exist")
    p.add_argument("--append-or-put", action="store_true", help="add to the shard if it exists, else create it")
    p.add_argument("--recursive", "-r", action="store_true", help="a directory: its subdirectories too")
    p.add_argument("--yes", "-y", action="store_true", help="a directory without --append*: assume --append-or-put")
    p.add_argument("--dry-run", action="store_true", help="show what would be done, do nothing")
    cmd(p, archive_put)
    p = asub.add_parser("get", help="get a shard, or a file in it (BUCKET/SHARD/FILE or --archpath)")
    p.add_argument("src", metavar="BUCKET/SHARD_NAME[/FILE]")
    p.add_argument("dst", nargs="?", default="", metavar="OUT_FILE|OUT_DIR|-")
    p.add_argument("--archpath", default="", help="the file in the shard")
    p.add_argument("--archregx", default="", help="files matching this (returned as a tar)")
    p.add_argument("--archmode", default="regexp", choices=("regexp", "prefix", "suffix", "substr", "wdskey"),
                   help="how --archregx matches")
    cmd(p, archive_get)
    p = asub.add_parser("ls", help="list archived content (.tar, .tgz or .tar.gz, .zip, .tar.lz4)")
    p.add_argument("shard", metavar="BUCKET[/SHARD_NAME]")
    p.add_argument("--prefix", default="", help="names starting with this prefix (may cross into a shard)")
    p.add_argument("--props", default="", help="columns: name,size (the default) or name")
    p.add_argument("--json", "-j", action="store_true", help="JSON output")
    cmd(p, archive_ls)

