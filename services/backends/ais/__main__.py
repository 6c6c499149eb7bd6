"""``python -m services.backends.ais --metadata HOST:PORT``: buckets of remote AIS clusters."""

from __future__ import annotations

import argparse

from services.backends.ais.adapter import AisBackend, metadata_addrs
from services.backends.ais.attachments import Attachments
from services.backends.common import serve


def _args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--metadata", default="",
                    help="metadata service address(es), comma-separated: where the attachments are kept "
                    "(default: $AISMESH_METADATA)")


def _make(args: argparse.Namespace) -> AisBackend:
    addrs = metadata_addrs(args.metadata)
    if not addrs:
        raise SystemExit("the ais adapter needs --metadata HOST:PORT (or AISMESH_METADATA)")
    return AisBackend(Attachments.from_metadata(addrs))


def main(argv: list[str] | None = None) -> int:
    return serve("ais", _make, argv, add_args=_args)


if __name__ == "__main__":
    raise SystemExit(main())
