"""``python -m services.backends.ht``: an HTTP(S) origin as a read-only bucket."""

from __future__ import annotations

from services.backends.common import serve
from services.backends.ht.adapter import HtBackend


def main(argv: list[str] | None = None) -> int:
    return serve("ht", lambda args: HtBackend(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
