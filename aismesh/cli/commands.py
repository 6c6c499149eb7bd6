"""The `ais` commands: each takes the API, the parsed arguments and the output stream; returns the exit code."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from typing import Any, TextIO

from aismesh.cli import fmt, uri
from aismesh.cli.api import API, CLIError
from aismesh.cmn import props as bprops
from aismesh.cmn.errors import InvalidArgument

FLAG_CACHED = 1 << 0
PROVIDER_TITLES = {"ais": "AIS", "aws": "AWS", "gcp": "GCP", "azure": "Azure", "oci": "OCI", "ht": "HT"}


def _bucket(text: str, allow_empty: bool = False) -> uri.BucketURI:
    try:
        return uri.parse_bucket(text, allow_empty=allow_empty)
    except ValueError as e:
        raise CLIError(str(e)) from None


def _object(text: str) -> tuple[uri.BucketURI, str]:
    try:
        return uri.parse_object(text)
    except ValueError as e:
        raise CLIError(str(e)) from None


# --- ls ----------------------------------------------------------------------------------------

def ls(api: API, args: argparse.Namespace, out: TextIO) -> int:
    target = args.uri or ""
    bck, obj = (uri.parse(target) if target else (uri.BucketURI("", ""), ""))
    if not bck.name and "://@" in target:  # ais://@ (every remote cluster) or ais://@alias
        return _ls_buckets(api, bck.provider, args, out, namespace=f"@{bck.ns_uuid or '@'}#")
    if not bck.name:
        return _ls_buckets(api, bck.provider if target else "", args, out)
    if obj and not args.prefix:
        args.prefix = obj
    return _ls_objects(api, bck, args, out)


def _ls_buckets(api: API, provider: str, args: argparse.Namespace, out: TextIO, namespace: str = "") -> int:
    # --all on a cloud provider: also the buckets its account has that the cluster does not hold
    everywhere = bool(getattr(args, "all", False)) and provider not in ("", "ais") and not namespace
    buckets = api.list_buckets(provider, namespace, presence="0" if everywhere else "")
    if args.json:
        fmt.dump_json(out, buckets)
        return 0
    by_provider: dict[str, list[dict[str, Any]]] = {}
    for b in buckets:
        by_provider.setdefault(b["provider"], []).append(b)
    shown = [provider] if provider else sorted(by_provider, key=lambda p: (p != "ais", p))
    if not shown:
        shown = ["ais"]
    for i, p in enumerate(shown):
        entries = sorted(by_provider.get(p, []), key=lambda b: b["name"])
        if i:
            out.write("\n")
        out.write(f"{PROVIDER_TITLES.get(p, p.upper())} Buckets ({len(entries)})\n")
        for b in entries:
            ns = b.get("namespace") or {}
            out.write(f"  {uri.BucketURI(p, b['name'], ns.get('uuid', ''), ns.get('name', ''))}\n")
    return 0


def _ls_objects(api: API, bck: uri.BucketURI, args: argparse.Namespace, out: TextIO) -> int:
    flags = FLAG_CACHED if args.cached else 0
    props = "name,size" if not args.props else args.props
    if args.paged:
        token, page_no = "", 0
        while True:
            page = api.list_objects(bck, prefix=args.prefix or "", page_size=args.page_size or 1000, token=token,
                                    props=props, flags=flags)
            page_no += 1
            entries = page.get("entries") or []
            if args.json:
                fmt.dump_json(out, page)
            else:
                out.write(f"Page {page_no}\n")
                _objects_table(entries, props, out)
            token = page.get("continuation_token") or ""
            if not token:
                return 0
    entries = list(api.iter_objects(bck, prefix=args.prefix or "", props=props, flags=flags))
    if args.json:
        fmt.dump_json(out, entries)
        return 0
    _objects_table(entries, props, out)
    return 0


_COLUMNS = {"name": ("NAME", "name"), "size": ("SIZE", "size"), "checksum": ("CHECKSUM", "checksum"),
            "atime": ("ATIME", "atime"), "version": ("VERSION", "version"), "location": ("LOCATION", "location"),
            "custom": ("CUSTOM", "custom-md")}


def _objects_table(entries: list[dict[str, Any]], props: str, out: TextIO) -> None:
    wanted = [p for p in (x.strip() for x in props.split(",")) if p in _COLUMNS] or ["name"]
    if "name" not in wanted:
        wanted.insert(0, "name")
    rows = []
    for e in entries:
        row = []
        for p in wanted:
            v = e.get(_COLUMNS[p][1], "")
            row.append(fmt.size_iec(int(v or 0)) if p == "size" else (v if v != "" else "-"))
        rows.append(row)
    fmt.table(out, [_COLUMNS[p][0] for p in wanted], rows)


# --- bucket ------------------------------------------------------------------------------------

def bucket_create(api: API, args: argparse.Namespace, out: TextIO) -> int:
    code = 0
    for text in args.buckets:
        bck = _bucket(text)
        value = None
        if args.props:
            try:
                value = json.loads(args.props)
            except ValueError as e:
                raise CLIError(f"invalid --props (expected JSON): {e}") from None
        try:
            api.bucket(bck, "POST", "create-bck", value)
        except CLIError as e:
            if args.ignore_error and "already exists" in str(e):
                out.write(f'"{bck}" already exists\n')
                continue
            raise
        out.write(f'"{bck}" created\n')
    return code


def bucket_rm(api: API, args: argparse.Namespace, out: TextIO) -> int:
    for text in args.buckets:
        bck = _bucket(text)
        try:
            api.bucket(bck, "DELETE", "destroy-bck")
        except CLIError as e:
            if args.ignore_error and "does not exist" in str(e):
                continue
            raise
        out.write(f'"{bck}" destroyed\n')
    return 0


def bucket_evict(api: API, args: argparse.Namespace, out: TextIO) -> int:
    for text in args.buckets:
        bck = _bucket(text)
        if bck.provider == "ais" and not bck.ns_uuid:
            raise CLIError(f"evicting objects from AIS buckets (ie., buckets with no remote backends) is not "
                           f"allowed ({bck}).\n(Tip: consider 'ais object rm' or 'ais bucket rm')")
        api.bucket(bck, "DELETE", "evict-remote-bck", query={"keep_bck_md": str(args.keep_md)})
        out.write(f'"{bck}" evicted\n')
    return 0


def props_show(api: API, args: argparse.Namespace, out: TextIO) -> int:
    bck = _bucket(args.bucket)
    doc, unenforced = api.bucket_props(bck)
    flat = bprops.flatten(doc)
    if args.prefix:
        flat = {k: v for k, v in flat.items() if k.startswith(args.prefix)}
        if not flat:
            raise CLIError(f'no bucket property matches "{args.prefix}"')
    if args.json:
        fmt.dump_json(out, doc if not args.prefix else flat)
        return 0
    rows = []
    for key in sorted(flat):
        value = fmt.show_value(flat[key])
        if key in bprops.SCHEMA and key not in bprops.ENFORCED and key in unenforced:
            value += "  (not enforced yet)"
        rows.append((key, value))
    fmt.table(out, ("PROPERTY", "VALUE"), rows)
    return 0


def _pairs(items: list[str]) -> dict[str, str]:
    """``key=value`` words, or ``key value`` pairs, as AIS's CLI accepts both."""
    out: dict[str, str] = {}
    i = 0
    while i < len(items):
        item = items[i]
        if "=" in item:
            key, _, value = item.partition("=")
            i += 1
        elif i + 1 < len(items):
            key, value = item, items[i + 1]
            i += 2
        else:
            raise CLIError(f'missing value for bucket property "{item}" (expected KEY=VALUE)')
        out[key.strip()] = value
    if not out:
        raise CLIError("nothing to set: expected one or more KEY=VALUE (e.g. mirror.enabled=true)")
    return out


def _set_value(value: Any) -> str:
    """A value in a "set to" line: empty stays "" (as AIS prints `(was: "")`), not the table's "-"."""
    return "" if value in ("", None) else fmt.show_value(value)


def props_set(api: API, args: argparse.Namespace, out: TextIO) -> int:
    bck = _bucket(args.bucket)
    if args.reset:
        api.bucket(bck, "PATCH", "reset-bprops")
        out.write(f'Bucket props of "{bck}" successfully reset.\n')
        return 0
    pairs = _pairs(args.pairs)
    try:
        partial = json.loads(args.json_props) if args.json_props else bprops.partial_from_pairs(pairs)
    except InvalidArgument as e:
        raise CLIError(e.message) from None
    except ValueError as e:
        raise CLIError(f"invalid JSON: {e}") from None
    before, _ = api.bucket_props(bck)
    api.bucket(bck, "PATCH", "set-bprops", partial)
    after, _ = api.bucket_props(bck)
    old, new = bprops.flatten(before), bprops.flatten(after)
    changed = sorted(k for k in bprops.flatten(partial) if old.get(k) != new.get(k))
    if not changed:
        out.write("Bucket props were not changed (the given values are already set).\n")
        return 0
    for key in changed:
        out.write(f'"{key}" set to: "{_set_value(new.get(key))}" (was: "{_set_value(old.get(key))}")\n')
    out.write("\nBucket props successfully updated.\n")
    return 0


# --- objects -----------------------------------------------------------------------------------

def put(api: API, args: argparse.Namespace, out: TextIO) -> int:
    bck, name = uri.parse(args.dst)
    if not bck.name:
        raise CLIError(f'invalid destination "{args.dst}": expected ais://BUCKET[/OBJECT]')
    if args.src == "-":
        if not name:
            raise CLIError("reading from standard input needs an object name: ais put - ais://BUCKET/OBJECT")
        data = sys.stdin.buffer.read()
        api.put_object(bck, name, data, len(data))
        out.write(f'PUT (standard input) => {bck}/{name}\n')
        return 0
    if not os.path.isfile(args.src):
        raise CLIError(f'"{args.src}" is not a file (directories are not supported by aismesh\'s ais yet)')
    name = name or os.path.basename(args.src)
    if name.endswith("/"):
        name += os.path.basename(args.src)
    size = os.path.getsize(args.src)
    with open(args.src, "rb") as f:
        api.put_object(bck, name, f, size)
    out.write(f'PUT "{args.src}" => {bck}/{name}\n')
    return 0


def get(api: API, args: argparse.Namespace, out: TextIO) -> int:
    bck, name = _object(args.src)
    dst = args.dst or os.path.basename(name)
    resp = api.get_object(bck, name)
    total = 0
    with resp:
        if dst == "-":
            sink = sys.stdout.buffer
            while chunk := resp.read(1 << 20):
                sink.write(chunk)
                total += len(chunk)
            sink.flush()
            return 0
        tmp = dst + ".ais-partial"
        with open(tmp, "wb") as f:
            shutil.copyfileobj(resp, f, 1 << 20)
            total = f.tell()
        os.replace(tmp, dst)
    out.write(f'GET {name} from {bck} as "{dst}" ({fmt.size_iec(total)})\n')
    return 0


def object_rm(api: API, args: argparse.Namespace, out: TextIO) -> int:
    for text in args.objects:
        bck, name = _object(text)
        api.delete_object(bck, name)
        out.write(f'deleted "{name}" from {bck}\n')
    return 0


# --- show / config -----------------------------------------------------------------------------

def show_cluster(api: API, args: argparse.Namespace, out: TextIO) -> int:
    smap = api.smap()
    statuses = {tid: api.node_status(tid) for tid in sorted(smap["tmap"])}
    if args.json:
        fmt.dump_json(out, {"smap": smap, "targets": statuses})
        return 0
    primary = smap["proxy_si"]["daemon_id"]
    prows = [(f"{pid}[P]" if pid == primary else pid, p["public_net"]["direct_url"], "online")
             for pid, p in sorted(smap["pmap"].items())]
    fmt.table(out, ("PROXY", "URL", "STATUS"), prows)
    out.write("\n")
    trows = []
    for tid, st in statuses.items():
        mps = st.get("tcdf", {}).get("mountpaths", {})
        avail = sum(int(m["capacity"]["avail"]) for m in mps.values())
        flags = smap["tmap"][tid].get("flags", 0)
        status = "maintenance" if flags & (1 << 2) else st.get("status", "online")
        trows.append((tid, len(mps), fmt.size_iec(avail), f'{st.get("tcdf", {}).get("pct_avg", 0)}%', status))
    fmt.table(out, ("TARGET", "MOUNTPATHS", "DISK AVAIL", "CAP USED(%)", "STATUS"), trows)
    out.write("\nSummary:\n")
    fmt.table(out, ("", ""), [("  Proxies:", len(smap["pmap"])), ("  Targets:", len(smap["tmap"])),
                              ("  Cluster Map:", f'version {smap["version"]}, UUID {smap["uuid"]}')])
    return 0


def show_job(api: API, args: argparse.Namespace, out: TextIO) -> int:
    query = {"ID": args.job_id or "", "Kind": args.kind or "", "DaemonID": "", "Bck": None, "Buckets": None}
    doc = api.cluster_what("qryxstats", query) or {}
    snaps = [s for node in sorted(doc) for s in doc[node]]
    if not args.all and not args.job_id:
        snaps = [s for s in snaps if not s.get("is_idle")]
    if args.json:
        fmt.dump_json(out, snaps)
        return 0
    if not snaps:
        out.write("No jobs.\n" if args.all else "No running jobs. Use '--all' to show all.\n")
        return 0
    rows = []
    for s in snaps:
        bck = s.get("bck") or s.get("src-bck") or {}
        dst = s.get("dst-bck")
        where = uri.BucketURI(bck.get("provider", ""), bck.get("name", "")) if bck else "-"
        if dst:
            where = f"{where} => {uri.BucketURI(dst.get('provider', ''), dst.get('name', ''))}"
        state = "Aborted" if s.get("aborted") else "Running" if not s.get("is_idle") else \
            ("Failed" if s.get("err") else "Finished")
        stats = s.get("stats") or {}
        rows.append((s["id"], s["kind"], where, stats.get("objects", 0), fmt.size_iec(int(stats.get("bytes", 0))),
                     s.get("start-time", "")[:19].replace("T", " "), state))
    fmt.table(out, ("JOB ID", "KIND", "BUCKET", "OBJECTS", "BYTES", "START", "STATE"), rows)
    return 0


def config_cluster(api: API, args: argparse.Namespace, out: TextIO) -> int:
    if args.value is not None:  # ais config cluster features S3-API-via-Root
        api.request("PUT", "cluster", action="set-config", value={args.key: args.value})
        out.write(f'cluster config "{args.key}" set to "{args.value}"\n')
        return 0
    doc = api.cluster_what("cluster_config")
    if args.json:
        fmt.dump_json(out, doc)
        return 0
    flat = bprops.flatten(doc)
    if args.key:
        flat = {k: v for k, v in flat.items() if k.startswith(args.key)}
        if not flat:
            raise CLIError(f'no cluster config key matches "{args.key}"')
    fmt.table(out, ("PROPERTY", "VALUE"), [(k, fmt.show_value(v)) for k, v in sorted(flat.items())])
    return 0


def complete_buckets(api: API, args: argparse.Namespace, out: TextIO) -> int:
    """Hidden: bucket URIs for TAB completion (quiet when the cluster is unreachable)."""
    try:
        for b in api.list_buckets(""):
            out.write(f"{uri.BucketURI(b['provider'], b['name'])}\n")
    except CLIError:
        pass
    return 0


# --- jobs: copy, rename, stop, wait ------------------------------------------------------------

def _bck_to(bck: uri.BucketURI) -> str:
    return f"{bck.provider}/@{bck.ns_uuid}#{bck.ns_name}/{bck.name}/"


def _wait(api: API, job_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        status: dict[str, Any] = api.cluster_what("status", {"ID": job_id, "Kind": ""})
        if status.get("end_time"):
            return status
        if time.monotonic() > deadline:
            raise CLIError(f"job {job_id} is still running after {timeout_s:g}s")
        time.sleep(0.2)


def _finish(api: API, job_id: str, args: argparse.Namespace, done: str, out: TextIO) -> int:
    if not args.wait:
        out.write(f"To monitor the progress, run 'ais show job {job_id}'\n")
        return 0
    status = _wait(api, job_id, args.timeout)
    if status.get("aborted") or status.get("err"):
        raise CLIError(f"job {job_id} failed: {status.get('err') or 'aborted'}")
    out.write(done + "\n")
    return 0


def bucket_cp(api: API, args: argparse.Namespace, out: TextIO) -> int:
    src, dst = _bucket(args.src), _bucket(args.dst)
    value = {"prefix": args.prefix, "prepend": "", "dry_run": args.dry_run, "force": False,
             "latest-ver": args.latest, "synchronize": args.sync}
    job_id = api.bucket(src, "POST", "copy-bck", value, query={"bck_to": _bck_to(dst)}).body.decode()
    out.write(f"Copying {src} => {dst} ({job_id}){', dry run' if args.dry_run else ''}.\n")
    return _finish(api, job_id, args, f"Copied {src} => {dst}", out)


def bucket_mv(api: API, args: argparse.Namespace, out: TextIO) -> int:
    src, dst = _bucket(args.src), _bucket(args.dst)
    job_id = api.bucket(src, "POST", "move-bck", None, query={"bck_to": _bck_to(dst)}).body.decode()
    out.write(f"Renaming bucket {src} => {dst} ({job_id}).\n")
    return _finish(api, job_id, args, f"Renamed {src} => {dst}", out)


def job_stop(api: API, args: argparse.Namespace, out: TextIO) -> int:
    api.request("PUT", "cluster", action="stop", value={"ID": args.job_id, "Kind": "", "DaemonID": "",
                                                        "Bck": None, "Buckets": None})
    out.write(f"Stopped job {args.job_id}\n")
    return 0


def job_wait(api: API, args: argparse.Namespace, out: TextIO) -> int:
    status = _wait(api, args.job_id, args.timeout)
    if status.get("aborted") or status.get("err"):
        raise CLIError(f"job {args.job_id} failed: {status.get('err') or 'aborted'}")
    out.write(f"Job {args.job_id} finished\n")
    return 0


def _summary(api: API, bck: uri.BucketURI, timeout_s: float) -> dict[str, Any]:
    """The info() protocol: HEAD starts a summary job (202), polled with its id until 200."""
    query = {"bsumm_remote": "true"}
    first = api.bucket(bck, "HEAD", query=query)
    job_id = first.headers.get("Ais-Xaction-Id", "")
    deadline = time.monotonic() + timeout_s
    while True:
        reply = api.bucket(bck, "HEAD", query={**query, "uuid": job_id})
        if reply.status == 200 and "Ais-Bucket-Summ" in reply.headers:
            summ: dict[str, Any] = json.loads(reply.headers["Ais-Bucket-Summ"])
            return summ
        if time.monotonic() > deadline:
            raise CLIError(f"the summary of {bck} is not ready after {timeout_s:g}s (job {job_id})")
        time.sleep(0.1)


def bucket_summary(api: API, args: argparse.Namespace, out: TextIO) -> int:
    if args.buckets:
        buckets = [_bucket(b) for b in args.buckets]
    else:
        buckets = [uri.BucketURI(b["provider"], b["name"]) for b in api.list_buckets("")]
    summaries = [(b, _summary(api, b, args.timeout)) for b in buckets]
    if args.json:
        fmt.dump_json(out, [s for _, s in summaries])
        return 0
    rows = []
    for b, s in summaries:
        cnt, size, total = s["ObjCount"], s["ObjSize"], s["TotalSize"]
        rows.append((str(b), f'{cnt["obj_count_present"]} {cnt["obj_count_remote"]}',
                     " ".join(fmt.size_iec(int(size[k])) for k in ("obj_min_size", "obj_avg_size", "obj_max_size")),
                     f'{fmt.size_iec(int(total["size_all_present_objs"]))} '
                     f'{fmt.size_iec(int(total["size_all_remote_objs"]))}'))
    fmt.table(out, ("NAME", "OBJECTS (cached, remote)", "OBJECT SIZES (min, avg, max)",
                    "TOTAL OBJECT SIZE (cached, remote)"), rows)
    return 0


# --- remote clusters -------------------------------------------------------------------------


def remote_attach(api: API, args: argparse.Namespace, out: TextIO) -> int:
    """ais cluster remote-attach ALIAS=URL: the remote need not be online."""
    alias, sep, url = args.spec.partition("=")
    if not sep or not alias or not url:
        raise CLIError(f'invalid remote cluster "{args.spec}": expected ALIAS=URL, e.g. remais=http://host:51080')
    api.request("PUT", "cluster/attach", query={"what": "remote"},
                headers={"Ais-Remote-Ais-Alias": alias, "Ais-Remote-Ais-Url": url})
    out.write(f"Remote cluster ({alias}={url}) successfully attached\n")
    return 0


def remote_detach(api: API, args: argparse.Namespace, out: TextIO) -> int:
    api.request("PUT", "cluster/detach", query={"what": "remote"}, headers={"Ais-Remote-Ais-Alias": args.alias})
    out.write(f'Remote cluster "{args.alias}" successfully detached\n')
    return 0


def show_remote_cluster(api: API, args: argparse.Namespace, out: TextIO) -> int:
    """UUID URL Alias Primary Smap Targets Online, as AIStore prints them: a remote that never
    answered shows <alias> and <url> and n/a; one offline now shows what it last said."""
    doc = api.cluster_what("remote") or {}
    remotes = doc.get("a") or []
    if args.json:
        fmt.dump_json(out, remotes)
        return 0
    rows: list[tuple[str, ...]] = []
    for r in remotes:
        url = r["url"].split("://", 1)[-1]
        online = "yes" if r.get("online") else "no"
        smap = r.get("smap")
        if smap is None:
            rows.append((f'<{r["alias"]}>', f"<{url}>", "n/a", "n/a", "n/a", "n/a", online))
            continue
        primary = smap.get("proxy_si", {}).get("daemon_id", "")
        rows.append((r["uuid"], url, r["alias"], f"p[{primary}]", f'v{smap.get("version", "")}',
                     str(len(smap.get("tmap") or {})), online))
    fmt.table(out, ("UUID", "URL", "Alias", "Primary", "Smap", "Targets", "Online"), rows)
    return 0
