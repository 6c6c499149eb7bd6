"""The benchmark's report: a table a person reads, and JSON a program reads."""

from __future__ import annotations

from typing import Any

from aismesh.bench.stats import format_size, ratio

AISMESH = ("aismesh-s3", "aismesh-native", "aismesh-cold", "aismesh-warm")


def add_ratios(cells: list[dict[str, Any]]) -> None:
    """Each aismesh figure as a ratio to moto's and nginx's for the same op and size."""
    def find(target: str, op: str, size: int) -> dict[str, Any] | None:
        return next((c for c in cells if c["target"] == target and c["op"] == op and c["size"] == size
                     and not c["skipped"]), None)

    for c in cells:
        if c["target"] not in AISMESH or c["skipped"]:
            continue
        peer_op = "get" if c["target"] in ("aismesh-cold", "aismesh-warm") else c["op"]
        # The cold-GET cells compare with the direct GET of the same objects from the same moto.
        peer = "moto-direct" if c["target"] in ("aismesh-cold", "aismesh-warm") else "moto"
        moto, nginx = find(peer, peer_op, c["size"]), find("nginx", peer_op, c["size"])
        c["vs_moto"] = ratio(c["mb_per_s"], moto["mb_per_s"]) if moto else None
        c["vs_nginx"] = ratio(c["mb_per_s"], nginx["mb_per_s"]) if nginx else None
        c["p99_vs_moto"] = ratio(c["p99_ms"], moto["p99_ms"]) if moto else None


def table(cells: list[dict[str, Any]]) -> str:
    head = (f"{'target':15} {'op':5} {'size':>6} {'ops/s':>9} {'MB/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'max ms':>8} {'err':>5} {'x moto':>7} {'x nginx':>7}")
    lines = [head, "-" * len(head)]
    for c in cells:
        if c["skipped"]:
            lines.append(f"{c['target']:15} {c['op']:5} {c['size_label']:>6}  skipped: {c['skipped']}")
            continue
        vm = c.get("vs_moto")
        vn = c.get("vs_nginx")
        lines.append(
            f"{c['target']:15} {c['op']:5} {c['size_label']:>6} {c['ops_per_s']:>9.1f} {c['mb_per_s']:>8.1f} "
            f"{c['p50_ms']:>8.2f} {c['p99_ms']:>8.2f} {c['max_ms']:>8.1f} {c['errors']:>5} "
            f"{(f'{vm:.2f}' if vm else '-'):>7} {(f'{vn:.2f}' if vn else '-'):>7}")
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
            if name in ("moto", "nginx"):
                continue
            by.setdefault(name, {})[c["size"]] = max(by.get(name, {}).get(c["size"], 0), kib)
    head = f"{'largest process (MB)':20}" + "".join(f"{format_size(s):>9}" for s in sizes)
    lines = [head]
    for name in sorted(by):
        lines.append(f"{name:20}" + "".join(f"{by[name].get(s, 0) / 1024:>9.1f}" for s in sizes))
    return "\n".join(lines)
