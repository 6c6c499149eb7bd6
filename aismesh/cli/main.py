"""`ais`: the AIStore-style command line for aismesh (endpoint from AIS_ENDPOINT, default http://127.0.0.1:8080).

The command tree is one table (``build_parser``); the bash completion script is generated from
that same tree (``ais --completion``), so a new command is completed as soon as it exists.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from aismesh.cli import archcmds, commands, objcmds
from aismesh.cli.api import API, CLIError
from aismesh.cli.completion import bash_script

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
Command = Callable[[API, argparse.Namespace, TextIO], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # Usage mistakes: AIS's "Incorrect Usage" wording, exit code 2 as argparse does.
        self.print_usage(sys.stderr)
        sys.stderr.write(f"Incorrect Usage: {message}\n")
        raise SystemExit(2)


def _cmd(p: argparse.ArgumentParser, fn: Command) -> None:
    p.set_defaults(func=fn)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ais", description="AIStore-style CLI for aismesh (AIS_ENDPOINT selects the cluster).")
    parser.add_argument("--completion", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--complete-buckets", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def ls_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("uri", nargs="?", metavar="PROVIDER://[BUCKET[/PREFIX]]", help="what to list")
        p.add_argument("--all", action="store_true", help="all buckets, or objects in every state")
        p.add_argument("--cached", action="store_true", help="only what is present in the cluster")
        p.add_argument("--prefix", default="", help="only object names with this prefix")
        p.add_argument("--paged", action="store_true", help="one page at a time")
        p.add_argument("--page-size", type=int, default=0, help="entries in a page (with --paged)")
        p.add_argument("--props", default="", help="object properties to show, e.g. name,size,checksum,version")
        p.add_argument("--json", "-j", action="store_true", help="JSON output")
        _cmd(p, commands.ls)

    ls_args(sub.add_parser("ls", help="list buckets or objects"))

    bucket = sub.add_parser("bucket", help="create, remove, evict buckets; show and set their props")
    bsub = bucket.add_subparsers(dest="bucket_command", metavar="COMMAND", parser_class=_Parser, required=True)
    ls_args(bsub.add_parser("ls", help="list buckets or objects"))
    p = bsub.add_parser("create", help="create ais:// buckets")
    p.add_argument("buckets", nargs="+", metavar="BUCKET")
    p.add_argument("--props", default="", help='bucket props as JSON, e.g. \'{"mirror":{"enabled":true}}\'')
    p.add_argument("--ignore-error", action="store_true", help="no error when the bucket exists")
    _cmd(p, commands.bucket_create)
    p = bsub.add_parser("rm", help="remove buckets and all their objects")
    p.add_argument("buckets", nargs="+", metavar="BUCKET")
    p.add_argument("--ignore-error", action="store_true", help="no error when the bucket does not exist")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask (accepted for compatibility)")
    _cmd(p, commands.bucket_rm)
    p = bsub.add_parser("evict", help="evict remote buckets (their cached objects)")
    p.add_argument("buckets", nargs="+", metavar="BUCKET")
    p.add_argument("--keep-md", action="store_true", help="keep the bucket in the BMD")
    _cmd(p, commands.bucket_evict)
    for verb, fn, what in (("cp", commands.bucket_cp, "copy a bucket (a copy-bck job)"),
                           ("mv", commands.bucket_mv, "rename an ais:// bucket (a move-bck job)")):
        p = bsub.add_parser(verb, help=what)
        p.add_argument("src", metavar="SRC_BUCKET")
        p.add_argument("dst", metavar="DST_BUCKET")
        if verb == "cp":
            p.add_argument("--prefix", default="", help="only objects with this prefix")
            p.add_argument("--dry-run", action="store_true", help="count, copy nothing")
            p.add_argument("--latest", action="store_true", help="remote source: the latest version")
            p.add_argument("--sync", action="store_true", help="remote source: also drop what is gone")
        p.add_argument("--wait", action="store_true", help="wait until the job ends")
        p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (with --wait)")
        _cmd(p, fn)
    p = bsub.add_parser("summary", help="object counts and sizes (a summary job)")
    p.add_argument("buckets", nargs="*", metavar="BUCKET")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the summary")
    p.add_argument("--json", "-j", action="store_true", help="JSON output")
    _cmd(p, commands.bucket_summary)
    props = bsub.add_parser("props", help="show or set bucket properties")
    psub = props.add_subparsers(dest="props_command", metavar="COMMAND", parser_class=_Parser, required=True)
    p = psub.add_parser("show", help="show bucket properties")
    p.add_argument("bucket", metavar="BUCKET")
    p.add_argument("prefix", nargs="?", default="", metavar="PROP_PREFIX", help="e.g. mirror or checksum.type")
    p.add_argument("--json", "-j", action="store_true", help="JSON output")
    _cmd(p, commands.props_show)
    p = psub.add_parser("set", help="set bucket properties: KEY=VALUE ...")
    p.add_argument("bucket", metavar="BUCKET")
    p.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    p.add_argument("--reset", action="store_true", help="back to the cluster defaults")
    p.add_argument("--json-props", default="", help="the partial props as JSON instead of KEY=VALUE")
    _cmd(p, commands.props_set)

    p = sub.add_parser("put", help="put a file (or - for standard input) into a bucket")
    p.add_argument("src", metavar="FILE|-")
    p.add_argument("dst", metavar="BUCKET[/OBJECT]")
    _cmd(p, commands.put)
    p = sub.add_parser("get", help="get an object into a file (or - for standard output)")
    p.add_argument("src", metavar="BUCKET/OBJECT")
    p.add_argument("dst", nargs="?", default="", metavar="FILE|-")
    _cmd(p, commands.get)

    obj = sub.add_parser("object", help="object operations")
    osub = obj.add_subparsers(dest="object_command", metavar="COMMAND", parser_class=_Parser, required=True)
    p = osub.add_parser("rm", help="remove objects")
    p.add_argument("objects", nargs="+", metavar="BUCKET/OBJECT")
    _cmd(p, commands.object_rm)
    p = osub.add_parser("put", help="same as 'ais put'")
    p.add_argument("src", metavar="FILE|-")
    p.add_argument("dst", metavar="BUCKET[/OBJECT]")
    _cmd(p, commands.put)
    p = osub.add_parser("get", help="same as 'ais get'")
    p.add_argument("src", metavar="BUCKET/OBJECT")
    p.add_argument("dst", nargs="?", default="", metavar="FILE|-")
    _cmd(p, commands.get)
    archcmds.add_parsers(osub, sub, _cmd, _Parser)
    objcmds.add_parsers(osub, sub, _cmd)

    show = sub.add_parser("show", help="show the cluster, jobs")
    ssub = show.add_subparsers(dest="show_command", metavar="COMMAND", parser_class=_Parser, required=True)
    p = ssub.add_parser("cluster", help="proxies, targets, capacity")
    p.add_argument("--json", "-j", action="store_true", help="JSON output")
    _cmd(p, commands.show_cluster)
    p = ssub.add_parser("job", help="jobs (running; --all for finished too)")
    p.add_argument("job_id", nargs="?", default="", metavar="JOB_ID")
    p.add_argument("--kind", default="", help="only jobs of this kind (copy-bck, move-bck, delete-listrange...)")
    p.add_argument("--all", action="store_true", help="finished jobs too")
    p.add_argument("--json", "-j", action="store_true", help="JSON output")
    _cmd(p, commands.show_job)

    job = sub.add_parser("job", help="stop or wait for jobs")
    jsub = job.add_subparsers(dest="job_command", metavar="COMMAND", parser_class=_Parser, required=True)
    p = jsub.add_parser("stop", help="abort a job")
    p.add_argument("job_id", metavar="JOB_ID")
    _cmd(p, commands.job_stop)
    p = jsub.add_parser("wait", help="wait until a job ends")
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait")
    _cmd(p, commands.job_wait)

    p = ssub.add_parser("remote-cluster", help="attached remote AIS clusters (refreshes them)")
    p.add_argument("--json", "-j", action="store_true", help="JSON output")
    _cmd(p, commands.show_remote_cluster)

    clu = sub.add_parser("cluster", help="attach and detach remote AIS clusters")
    clsub = clu.add_subparsers(dest="cluster_command", metavar="COMMAND", parser_class=_Parser, required=True)
    p = clsub.add_parser("remote-attach", help="attach a remote AIS cluster: ALIAS=URL")
    p.add_argument("spec", metavar="ALIAS=URL")
    _cmd(p, commands.remote_attach)
    p = clsub.add_parser("remote-detach", help="detach a remote AIS cluster")
    p.add_argument("alias", metavar="ALIAS")
    _cmd(p, commands.remote_detach)

    config = sub.add_parser("config", help="show the configuration")
    csub = config.add_subparsers(dest="config_command", metavar="COMMAND", parser_class=_Parser, required=True)
    p = csub.add_parser("cluster", help="the cluster configuration; KEY VALUE sets one key (e.g. features)")
    p.add_argument("key", nargs="?", default="", metavar="KEY_PREFIX")
    p.add_argument("value", nargs="?", default=None, metavar="VALUE")
    p.add_argument("--json", "-j", action="store_true", help="JSON output")
    _cmd(p, commands.config_cluster)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    api = API(os.environ.get("AIS_ENDPOINT", DEFAULT_ENDPOINT))
    if args.completion:
        out.write(bash_script(parser))
        return 0
    if args.complete_buckets:
        return commands.complete_buckets(api, args, out)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(out)
        return 0
    try:
        code: int = func(api, args, out)
        return code
    except CLIError as e:
        sys.stderr.write(f"Error: {e}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def run() -> None:
    """The console script."""
    sys.exit(main())
