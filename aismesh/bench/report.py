"""The benchmark's report: a table a person reads, and JSON a program reads."""

from __future__ import annotations

from typing import Any

from aismesh.bench.stats import format_size, ratio

AISMESH = ("aismesh-s3", "aismesh-native", "aismesh-cold", "aismesh-warm")
# The yardsticks every row is compared with (MB/s, same op and size, same run).
PEERS = ("seaweedfs", "moto", "nginx")


def add_ratios(cells: list[dict[str, Any]]) -> None:
    """Each row's MB/s as a ratio to SeaweedFS's, moto's and nginx's for the same op and size
    (``vs_seaweedfs``, ``vs_moto``, ``vs_nginx``; None where that peer has no such cell)."""
    def find(target: str, op: str, size: int) -> dict[str, Any] | None:
        return next((c for c in cells if c["target"] == target and c["op"] == op and c["size"] == size
                     and not c["skipped"]), None)

    for c in cells:
        if c["skipped"] or c["target"] == "moto-direct":
            continue
        is_cold = c["target"] in ("aismesh-cold", "aismesh-warm")
        peer_op = "get" if is_cold else c["op"]
        for peer in PEERS:
            # The cold-GET cells compare with the direct GET of the same objects from the same moto.
            name = "moto-direct" if is_cold and peer == "moto" else peer
            other = find(name, peer_op, c["size"]) if name != c["target"] else None
            c[f"vs_{peer}"] = ratio(c["mb_per_s"], other["mb_per_s"]) if other else None
            if peer == "moto":
                c["p99_vs_moto"] = ratio(c["p99_ms"], other["p99_ms"]) if other else None


def _x(value: float | None) -> str:
    return f"{value:.2f}" if value else "-"


def table(cells: list[dict[str, Any]]) -> str:
    """One row a cell; ``cli us/op`` and ``cli cores`` are the load client's own CPU: when the
    client is near a core per thread (or the box's two), the row measures the client."""
    head = (f"{'target':15} {'op':5} {'size':>6} {'client':>6} {'ops/s':>9} {'MB/s':>8} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'max ms':>8} {'err':>5} {'cli us/op':>9} {'cli cores':>9} "
            f"{'x sweed':>7} {'x moto':>7} {'x nginx':>7}")
    lines = [head, "-" * len(head)]
    for c in cells:
        if c["skipped"]:
            lines.append(f"{c['target']:15} {c['op']:5} {c['size_label']:>6}  skipped: {c['skipped']}")
            continue
        lines.append(
            f"{c['target']:15} {c['op']:5} {c['size_label']:>6} {c.get('client', '-'):>6} {c['ops_per_s']:>9.1f} "
            f"{c['mb_per_s']:>8.1f} {c['p50_ms']:>8.2f} {c['p99_ms']:>8.2f} {c['max_ms']:>8.1f} {c['errors']:>5} "
            f"{c.get('client_us_per_op', 0):>9.1f} {c.get('client_cores', 0):>9.2f} "
            f"{_x(c.get('vs_seaweedfs')):>7} {_x(c.get('vs_moto')):>7} {_x(c.get('vs_nginx')):>7}")
    return "\n".join(lines)


def markdown(cells: list[dict[str, Any]]) -> str:
    """The same rows as :func:`table`, as a Markdown table for docs/performance.md."""
    lines = ["| target | op | size | client | ops/s | MB/s | p50 ms | p99 ms | max ms | errors | cli us/op "
             "| cli cores | x SeaweedFS | x moto | x nginx |",
             "|---|---|---|---|" + "---:|" * 11]
    for c in cells:
        if c["skipped"]:
            continue
        lines.append(
            f"| {c['target']} | {c['op']} | {c['size_label']} | {c.get('client', '-')} | {c['ops_per_s']:.0f} "
            f"| {c['mb_per_s']:.1f} | {c['p50_ms']:.1f} | {c['p99_ms']:.1f} | {c['max_ms']:.0f} | {c['errors']} "
            f"| {c.get('client_us_per_op', 0):.0f} | {c.get('client_cores', 0):.2f} | {_x(c.get('vs_seaweedfs'))} "
            f"| {_x(c.get('vs_moto'))} | {_x(c.get('vs_nginx'))} |")
    return "\n".join(lines)


def rss_table(peaks: dict[str, dict[str, int]]) -> str:
    lines = [f"{'service':10} {'peak RSS (tree)':>16} {'largest process':>16}"]
    for name in sorted(peaks.get("total_kib", {})):
        total = peaks["total_kib"][name] / 1024
        single = peaks["single_kib"].get(name, 0) / 1024
        lines.append(f"{name:10} {total:>13.1f} MB {single:>13.1f} MB")
    return "\n".join(lines)


def sizes_label(sizes: list[int]) -> str:
    return ",".join(format_size(s) for s in sizes)


def rss_by_size(cells: list[dict[str, Any]]) -> str:
    """The largest single process of each aismesh service per object size: flat is right."""
    by: dict[str, dict[int, int]] = {}
    sizes: list[int] = []
    for c in cells:
        if not c["target"].startswith("aismesh") or not c.get("peak_rss_kib"):
            continue
        if c["size"] not in sizes:
            sizes.append(c["size"])
        for name, kib in c["peak_rss_kib"].items():
            if name in PEERS:
                continue
            by.setdefault(name, {})[c["size"]] = max(by.get(name, {}).get(c["size"], 0), kib)
    head = f"{'largest process (MB)':20}" + "".join(f"{format_size(s):>9}" for s in sizes)
    lines = [head]
    for name in sorted(by):
        lines.append(f"{name:20}" + "".join(f"{by[name].get(s, 0) / 1024:>9.1f}" for s in sizes))
    return "\n".join(lines)
