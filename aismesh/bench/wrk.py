"""The compiled load client for the raw HTTP cells: wrk (Debian's package) driven by a Lua script.

The Python client costs about ten times wrk's CPU per small request (nginx 4KiB GET: 121 vs
11 us of the client's own CPU here) and caps nginx at ~12k ops/s on two cores, where wrk reaches
80-90k. Past ~1 MiB it is the other way round (wrk reads 8 KiB at a time and builds each PUT in
Lua), hence ``--client auto``. The script spreads GETs over the seeded keys at random, PUTs a body of
the cell's size to keys of its own thread, and prints one JSON line from ``done()`` that
:func:`parse_output` turns into a :class:`CellResult`. wrk's CPU time comes from ``wait4``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from aismesh.bench.stats import CellResult

MARK = "AISMESH_WRK "

# setup() (main state) gives each thread its global tid before init(args) runs in the thread:
# args = op, size, pct_put, GET paths file, PUT paths file, headers file, number of threads.
LUA = r"""
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local op, size, pct_put = "get", 0, 0
bad = {}  -- status -> count; global, so done() reads it from each thread
local gets, puts = {}, {}
local put_paths, body = {}, nil
local n = 0

local function lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then table.insert(out, line) end
  end
  return out
end

-- One request as bytes; headers are "Name: value" lines, Host comes from the URL.
local extra = ""
local function format(method, path, payload)
  local head = method .. " " .. path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] .. "\r\n" .. extra
  if payload then
    return head .. "Content-Length: " .. #payload .. "\r\n\r\n" .. payload
  end
  return head .. "\r\n"
end

function init(args)
  op, size, pct_put = args[1], tonumber(args[2]), tonumber(args[3])
  local nthreads = tonumber(args[7])
  math.randomseed(tid * 7919 + os.time())
  for _, h in ipairs(lines(args[6])) do extra = extra .. h .. "\r\n" end
  for _, p in ipairs(lines(args[4])) do table.insert(gets, format("GET", p, nil)) end
  -- Each thread PUTs only its own keys (no two PUTs of one key at once: moto answers 500).
  local all = lines(args[5])
  for i = tid + 1, #all, nthreads do table.insert(put_paths, all[i]) end
  if op ~= "get" then
    -- PUT answers are small, so here the script can see each status (for GETs wrk would hand it
    -- every body, which costs it more than the request): any non-2xx is counted by code.
    response = function(status, headers, body)
      if status < 200 or status > 299 then bad[status] = (bad[status] or 0) + 1 end
    end
    local chunk = {}
    for i = 1, math.min(size, 65536) do chunk[i] = string.char(math.random(0, 255)) end
    chunk = table.concat(chunk)
    body = string.rep(chunk, math.floor(size / #chunk)) .. chunk:sub(1, size % #chunk)
    -- Small bodies: every PUT request built once; large ones are built per request.
    if size * #put_paths <= 32 * 1024 * 1024 then
      puts = {}
      for i, p in ipairs(put_paths) do puts[i] = format("PUT", p, body) end
    end
  end
end

function request()
  n = n + 1
  if op == "put" or (op == "mixed" and math.random(100) <= pct_put) then
    local i = n % #put_paths + 1
    return puts[i] or format("PUT", put_paths[i], body)
  end
  return gets[math.random(#gets)]
end

function done(summary, latency, requests)
  local e = summary.errors
  local statuses = {}
  for _, t in ipairs(threads) do
    for code, k in pairs(t:get("bad") or {}) do statuses[code] = (statuses[code] or 0) + k end
  end
  local codes = {}
  for code, k in pairs(statuses) do table.insert(codes, string.format('"%d": %d', code, k)) end
  io.write(string.format(
    '%s{"requests": %d, "bytes": %d, "duration_us": %d, "statuses": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.1f}}\n',
    "MARK", summary.requests, summary.bytes, summary.duration, table.concat(codes, ", "),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
""".replace('"MARK"', json.dumps(MARK))


def find_wrk() -> str | None:
    """The wrk binary (``make tools-bench`` installs it from Debian), or None."""
    return shutil.which("wrk") or next((p for p in ("/usr/bin/wrk", "/usr/local/bin/wrk") if os.path.exists(p)), None)


@dataclass
class WrkSpec:
    """One cell for wrk: what :class:`aismesh.bench.loadgen.LoadSpec` is for the Python client."""

    host: str
    port: int
    op: str                      # get | put | mixed
    size: int
    get_paths: list[str]
    put_paths: list[str]
    headers: dict[str, str] = field(default_factory=dict)
    threads: int = 2
    connections: int = 16
    pct_put: int = 20
    duration_s: float = 5.0


def parse_output(stdout: str) -> dict[str, object]:
    """The JSON line the script's ``done()`` printed (wrk prints its own summary around it)."""
    for line in stdout.splitlines():
        if line.startswith(MARK):
            doc: dict[str, object] = json.loads(line[len(MARK):])
            return doc
    raise ValueError(f"wrk printed no result line: {stdout[-400:]!r}")


def to_cell(doc: dict[str, object], cell: CellResult, cpu_s: float) -> CellResult:
    """Fill ``cell`` from the parsed ``done()`` figures and the client's CPU seconds."""
    errors: dict[str, int] = {k: int(v) for k, v in doc["errors"].items()}  # type: ignore[attr-defined]
    lat: dict[str, float] = {k: float(v) / 1000 for k, v in doc["latency_us"].items()}  # type: ignore[attr-defined]
    requests = int(doc["requests"])  # type: ignore[call-overload]
    statuses: dict[str, int] = {k: int(v) for k, v in doc.get("statuses", {}).items()}  # type: ignore[attr-defined]
    if statuses:
        # PUT cells see every status (wrk itself counts only >= 400, and not which).
        errors["status"] = sum(statuses.values())
        cell.error_samples += [f"HTTP {code} x {n}" for code, n in sorted(statuses.items())]
    cell.client = "wrk"
    cell.duration_s = int(doc["duration_us"]) / 1e6  # type: ignore[call-overload]
    # wrk counts a response >= 400 as a status error, but still among its requests.
    cell.count = max(0, requests - errors["status"])
    cell.bytes = cell.count * cell.size
    wire = int(doc["bytes"])  # type: ignore[call-overload]
    if cell.op == "get" and wire < cell.bytes:
        # wrk does not hand bodies to the script (that would cost it); what it read bounds them.
        cell.error_samples.append(f"wrk read {wire} bytes for {cell.count} GETs of {cell.size}: short bodies")
        cell.bytes = wire
        cell.errors += 1
        cell.errors_by_kind["short_body"] = 1
    cell.errors = sum(errors.values())
    cell.errors_by_kind = {k: v for k, v in errors.items() if v}
    cell.latency_ms = {"p50": lat["p50"], "p99": lat["p99"], "max": lat["max"]}
    cell.client_cpu_s = cpu_s
    return cell


def _write_lines(path: str, values: list[str]) -> str:
    with open(path, "w") as f:
        f.write("\n".join(values) + "\n")
    return path


def run(spec: WrkSpec, cell: CellResult, workdir: str, binary: str) -> CellResult:
    """Drive one cell with wrk; its CPU time (user + system) is read from the kernel at exit."""
    os.makedirs(workdir, exist_ok=True)
    script = os.path.join(workdir, "cell.lua")
    with open(script, "w") as f:
        f.write(LUA)
    # wrk gives each thread connections // threads: a divisor keeps every connection asked for.
    threads = next(t for t in range(max(1, min(spec.threads, spec.connections)), 0, -1) if spec.connections % t == 0)
    args = [spec.op, str(spec.size), str(spec.pct_put),
            _write_lines(os.path.join(workdir, "get-paths"), spec.get_paths),
            _write_lines(os.path.join(workdir, "put-paths"), spec.put_paths),
            _write_lines(os.path.join(workdir, "headers"), [f"{k}: {v}" for k, v in spec.headers.items()]),
            str(threads)]
    cmd = [binary, "-t", str(threads), "-c", str(spec.connections), "-d", f"{max(1, math.ceil(spec.duration_s))}s",
           "--timeout", "60s", "-s", script, f"http://{spec.host}:{spec.port}/", "--", *args]
    out_path = os.path.join(workdir, "wrk.out")
    with open(out_path, "w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # wait4, not wait: the rusage of this child alone (RUSAGE_CHILDREN mixes in every other one).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}: {text[-400:]!r}")
    return to_cell(parse_output(text), cell, usage.ru_utime + usage.ru_stime)
