"""``aismesh``: run a local mesh (up, down, status) and measure it (bench)."""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version
from typing import Any

from aismesh.cmn.proc import gateway_workers
from aismesh.launcher import services
from aismesh.launcher.state import State, assign_ports, is_port_free, pid_alive, process_uptime
from aismesh.launcher.supervisor import ServiceStartError, Supervisor

DEFAULT_DATA = ".aismesh"
VERSION = version("aismesh")
LOCK_FILE = "launcher.lock"


def _fail(msg: str, code: int = 1) -> int:
    print(f"aismesh: {msg}", file=sys.stderr)
    return code


def _lock(data: str) -> Any:
    """Hold DATA/launcher.lock for the supervisor's lifetime; None when another one runs."""
    f = open(os.path.join(data, LOCK_FILE), "a+")  # noqa: SIM115 - held open on purpose
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def _endpoints(st: State) -> str:
    url = f"http://{st.host}:{st.port}"
    return (f"aismesh is up\n  S3 endpoint:   {url}/s3\n  native API:    {url}\n"
            f"  etcd endpoint: {st.host}:{st.ports['etcd']}\n  data:          {st.data}\n"
            f"  logs:          {os.path.join(st.data, 'logs')}")


def _prepare(args: argparse.Namespace) -> State:
    data = os.path.abspath(args.data)
    os.makedirs(os.path.join(data, "logs"), exist_ok=True)
    prev = State.load(data)
    backends = _providers(args.backends)
    if args.remote and "ais" not in backends:  # remote clusters are reached through the ais adapter
        backends.append("ais")
    st = State(data=data, host=args.host, port=args.port, targets=args.targets, metadata=args.metadata_replicas,
               backends=backends)
    st.ports = assign_ports(services.port_names(args.targets, args.metadata_replicas, st.backends),
                            prev.ports if prev else {}, args.host, {args.port})
    return st


def _providers(text: str) -> list[str]:
    """``--backends aws,s3,ht`` -> canonical, unique, in order; raises ValueError on others."""
    from aismesh.cmn.names import normalize_provider

    out: list[str] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        p = normalize_provider(item)
        if p not in services.ADAPTERS:
            raise ValueError(f'no adapter for provider "{item}" yet (available: {", ".join(services.ADAPTERS)})')
        if p not in out:
            out.append(p)
    return out


def _s3_start_env(args: argparse.Namespace) -> str:
    """Hand --s3-access-key/--s3-secret-key/--s3-at-root to the metadata service (it writes them
    to the cluster config in etcd) through the environment, never a command line; "" or a problem."""
    if bool(args.s3_access_key) != bool(args.s3_secret_key):
        return "--s3-access-key and --s3-secret-key go together (or AISMESH_S3_ACCESS_KEY/AISMESH_S3_SECRET_KEY)"
    if args.s3_access_key:
        os.environ["AISMESH_S3_ACCESS_KEY"] = args.s3_access_key
        os.environ["AISMESH_S3_SECRET_KEY"] = args.s3_secret_key
    if args.s3_at_root:
        os.environ["AISMESH_S3_AT_ROOT"] = "1"
    return ""


def cmd_up(args: argparse.Namespace) -> int:
    if args.targets < 1:
        return _fail("--targets must be at least 1", 2)
    if args.metadata_replicas < 1:
        return _fail("--metadata-replicas must be at least 1", 2)
    try:
        _providers(args.backends)
    except Exception as e:
        return _fail(f"--backends: {e}", 2)
    problem = _s3_start_env(args)
    if problem:
        return _fail(problem, 2)
    try:
        remotes = [_remote_arg(r) for r in args.remote]
    except ValueError as e:
        return _fail(f"--remote: {e}", 2)
    data = os.path.abspath(args.data)
    os.makedirs(os.path.join(data, "logs"), exist_ok=True)
    lock = _lock(data)
    if lock is None:
        return _fail(f"a mesh is already running with data in {data} (aismesh status --data {args.data})")
    if not is_port_free(args.host, args.port):
        return _fail(f"cannot listen on {args.host}:{args.port}: the port is in use (choose another with --port)")
    if args.detach:
        lock.close()
        return _detach(args, data)
    st = _prepare(args)
    st.supervisor_pid = os.getpid()
    st.save()
    if st.backends:  # the gateway and the storage nodes find the adapters here
        os.environ["AISMESH_BACKENDS"] = services.backends_env(st)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s launcher %(levelname)s %(message)s")
    sup = Supervisor(st, services.build_specs(st, args.workers, args.local_socket))

    def on_signal(signum: int, _frame: Any) -> None:
        sup.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sup.start_all()
    except ServiceStartError as e:
        sup.stop_all()
        if sup.stopping.is_set() and str(e) == "stopping":
            return 0
        return _fail(f"{e}; see {os.path.join(data, 'logs')}")
    try:
        _attach_remotes(st, remotes)
    except Exception as e:
        sup.stop_all()
        return _fail(f"--remote: {e}")
    print(_endpoints(st), flush=True)
    print("Ctrl-C stops every service (data is kept).", flush=True)
    sup.watch()
    sup.stop_all()
    print("aismesh stopped", flush=True)
    return 0


def _detach(args: argparse.Namespace, data: str) -> int:
    """Run the supervisor in the background; return once every service is healthy."""
    argv = [sys.executable, "-m", "aismesh.launcher.cli", "up", "--data", data, "--host", args.host,
            "--port", str(args.port), "--targets", str(args.targets), "--workers", str(args.workers),
            "--local-socket", args.local_socket, "--metadata-replicas", str(args.metadata_replicas),
            "--backends", args.backends, *(w for r in args.remote for w in ("--remote", r))]
    with open(os.path.join(data, "logs", "launcher.log"), "ab") as logf:
        proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return _fail(f"the mesh did not start:\n{_tail(os.path.join(data, 'logs', 'launcher.log'))}")
        st = State.load(data)
        if st is not None and st.supervisor_pid == proc.pid and _all_healthy(st):
            try:  # the supervisor attaches them too; here so they are attached when up returns
                _attach_remotes(st, [_remote_arg(r) for r in args.remote])
            except Exception as e:
                return _fail(f"--remote: {e}")
            print(_endpoints(st))
            return 0
        time.sleep(0.1)
    return _fail("the mesh was not healthy within 120 s; see " + os.path.join(data, "logs"))


def _remote_arg(text: str) -> tuple[str, str]:
    """``alias=http://h:p[,http://h2:p]`` -> (alias, urls); raises ValueError naming the problem."""
    alias, sep, urls = text.partition("=")
    alias = alias.strip()
    items = [u.strip().rstrip("/") for u in urls.split(",") if u.strip()]
    if not sep or not alias or not items:
        raise ValueError(f'"{text}" is not ALIAS=URL[,URL2...]')
    bad = [u for u in items if not u.startswith(("http://", "https://"))]
    if bad:
        raise ValueError(f'invalid remote cluster URL "{bad[0]}": expected http(s)://host:port')
    return alias, ",".join(items)


def _remote_smap(urls: str) -> dict[str, Any] | None:
    """The cluster map the first answering URL serves (GET /v1/daemon?what=smap), or None."""
    for url in urls.split(","):
        try:
            with urllib.request.urlopen(f"{url}/v1/daemon?what=smap", timeout=2) as r:
                smap = json.loads(r.read(1 << 20))
        except (OSError, ValueError):
            continue
        if isinstance(smap, dict) and isinstance(smap.get("uuid"), str) and smap["uuid"]:
            return smap
    return None


def _attach_remotes(st: State, remotes: list[tuple[str, str]]) -> None:
    """Attach ``--remote`` clusters (kept in etcd; the remote need not be online). The gateway
    learns each one's UUID and map when it first answers (ais show remote-cluster)."""
    if not remotes:
        return
    import grpc

    from aismesh.protos import metadata_pb2, metadata_pb2_grpc

    with grpc.insecure_channel(f"{st.host}:{st.ports['metadata']}") as ch:
        stub = metadata_pb2_grpc.MetadataStub(ch)
        for alias, urls in remotes:
            record = metadata_pb2.RemoteCluster(alias=alias, url=urls)
            smap = _remote_smap(urls)
            if smap is not None:  # online now: its UUID names it too (ais://@UUID/b)
                record.uuid, record.smap_json, record.seen_ns = smap["uuid"], json.dumps(smap), time.time_ns()
            deadline = time.monotonic() + 30
            while True:
                try:
                    stub.AttachRemote(record, timeout=5)
                    break
                except grpc.RpcError as e:
                    # The metadata service may still be electing its primary: wait for it.
                    if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                        raise RuntimeError(f'cannot attach "{alias}": {e.details()}') from None
                    time.sleep(0.2)


def _tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def _all_healthy(st: State) -> bool:
    specs = services.build_specs(st, 1)
    return all(st.pids.get(s.name) and services.is_healthy(s, 0.5) for s in specs)


def status_doc(st: State) -> dict[str, Any]:
    svcs = []
    for spec in services.build_specs(st, 1):
        pid = st.pids.get(spec.name, 0)
        alive = pid_alive(pid)
        svcs.append({"name": spec.name, "kind": spec.kind, "addr": spec.addr, "pid": pid, "alive": alive,
                     "healthy": alive and services.is_healthy(spec, 1.0), "log": spec.log,
                     "metrics": f"http://{spec.metrics}" if spec.metrics else "",
                     "uptime_s": round(process_uptime(pid), 1) if alive else 0.0,
                     "version": (_etcd_version(spec.addr) if alive else "") if spec.kind == "etcd" else VERSION})
    url = f"http://{st.host}:{st.port}"
    return {"data": st.data, "version": VERSION, "gateway": {"url": url}, "s3_endpoint": f"{url}/s3",
            "etcd_endpoint": f"{st.host}:{st.ports.get('etcd', 0)}", "supervisor_pid": st.supervisor_pid,
            "supervisor_alive": pid_alive(st.supervisor_pid), "services": svcs}


def _etcd_version(addr: str) -> str:
    try:
        with urllib.request.urlopen(f"http://{addr}/version", timeout=1) as r:
            return str(json.load(r).get("etcdserver", ""))
    except (OSError, ValueError):
        return ""


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def cmd_status(args: argparse.Namespace) -> int:
    st = State.load(os.path.abspath(args.data))
    if st is None or not pid_alive(st.supervisor_pid):
        if args.json:
            print(json.dumps({"data": os.path.abspath(args.data), "running": False, "services": []}))
        else:
            print(f"aismesh: nothing is running with data in {os.path.abspath(args.data)}")
        return 3
    doc = status_doc(st)
    ok = all(s["healthy"] for s in doc["services"])
    doc["running"] = True
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0 if ok else 1
    print(f"gateway {doc['gateway']['url']}  (S3: {doc['s3_endpoint']})   etcd {doc['etcd_endpoint']}")
    print(f"{'SERVICE':10} {'KIND':9} {'ADDRESS':22} {'PID':>8}  {'HEALTH':9} {'VERSION':8} {'UPTIME':>8}  METRICS")
    for s in doc["services"]:
        health = "healthy" if s["healthy"] else ("unhealthy" if s["alive"] else "down")
        print(f"{s['name']:10} {s['kind']:9} {s['addr']:22} {s['pid']:>8}  {health:9} {s['version']:8} "
              f"{_duration(s['uptime_s']):>8}  {s['metrics']}")
    return 0 if ok else 1


def cmd_down(args: argparse.Namespace) -> int:
    data = os.path.abspath(args.data)
    st = State.load(data)
    if st is None or not pid_alive(st.supervisor_pid):
        print(f"aismesh: nothing is running with data in {data}")
        return 0
    pids = [st.supervisor_pid, *st.pids.values()]
    os.kill(st.supervisor_pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.1)
    for p in pids:
        if pid_alive(p):
            os.kill(p, signal.SIGKILL)
    print("aismesh stopped")
    return 0


def port_number(text: str) -> int:
    """A TCP port, 1..65535: argparse prints the one-line error this raises."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="aismesh", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start etcd, the metadata service, storage nodes and the gateway")
    up.add_argument("--data", default=DEFAULT_DATA, help="folder for all data and logs (default ./.aismesh)")
    up.add_argument("--host", default="127.0.0.1", help="address every service listens on")
    up.add_argument("--port", type=port_number, default=8080, help="gateway port (default 8080)")
    up.add_argument("--targets", type=int, default=3, help="number of storage nodes (default 3)")
    up.add_argument("--workers", type=int, default=gateway_workers(),
                    help="gateway worker processes (default: one per CPU, at least 2)")
    up.add_argument("--metadata-replicas", type=int, default=1,
                    help="metadata services (default 1); with more, one is primary and the others forward")
    up.add_argument("--backends", default="",
                    help="backend adapters to run, comma-separated: aws (alias s3), ht, gcp (alias gs), azure "
                    "(alias az), oci (alias oc; needs the oci extra); each reads its usual environment "
                    "(AWS_ENDPOINT_URL, AWS_PROFILE, GOOGLE_APPLICATION_CREDENTIALS, STORAGE_EMULATOR_HOST, "
                    "AZURE_STORAGE_CONNECTION_STRING, OCI_*, ...). Default: none (ais:// buckets only)")
    up.add_argument("--remote", action="append", default=[], metavar="ALIAS=URL[,URL2]",
                    help="attach a remote AIS cluster at start (repeatable; kept in etcd; it need not be online); "
                    "also starts the ais adapter that reaches ais://@ALIAS/BUCKET")
    up.add_argument("--detach", action="store_true", help="run in the background; return once healthy")
    up.add_argument("--local-socket", choices=("auto", "off"), default="auto",
                    help="same-host fast path between gateway and storage nodes: auto (an abstract socket "
                    "per node, open to this user only) or off (everything over gRPC)")
    up.add_argument("--s3-access-key", default=os.environ.get("AISMESH_S3_ACCESS_KEY", ""),
                    help="S3 access key (env AISMESH_S3_ACCESS_KEY): with a secret key, every S3 request must be "
                    "signed (AWS SigV4). Kept in the cluster config in etcd. Default: none (no S3 authentication)")
    up.add_argument("--s3-secret-key", default=os.environ.get("AISMESH_S3_SECRET_KEY", ""),
                    help="S3 secret key (env AISMESH_S3_SECRET_KEY; prefer the environment: a command line is visible)")
    up.add_argument("--s3-at-root", action="store_true",
                    help="feature S3-API-via-Root: serve the S3 API at / too (the native API stays at /v1)")
    up.set_defaults(func=cmd_up)
    st = sub.add_parser("status", help="every service, its address, pid and health")
    st.add_argument("--data", default=DEFAULT_DATA)
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)
    down = sub.add_parser("down", help="stop a mesh started with --detach")
    down.add_argument("--data", default=DEFAULT_DATA)
    down.set_defaults(func=cmd_down)
    bench = sub.add_parser("bench", help="load-test aismesh (S3 and native), moto and nginx in one run")
    from aismesh.bench import cli as bench_cli

    bench_cli.add_arguments(bench)
    bench.set_defaults(func=bench_cli.main)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
