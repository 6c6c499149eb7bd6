"""Directory indexes of an HTTP origin (nginx autoindex JSON or HTML) as plain entries."""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

_HREF = re.compile(r'<a\s+[^>]*href="([^"]+)"', re.IGNORECASE)


@dataclass(frozen=True)
class IndexEntry:
    name: str          # relative to the listed directory; a directory ends with "/"
    size: int = -1
    mtime_ns: int = 0

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


def _mtime_ns(text: str) -> int:
    try:
        return int(parsedate_to_datetime(text).timestamp() * 1e9)
    except (TypeError, ValueError):
        return 0


def parse_json(body: bytes) -> list[IndexEntry]:
    """nginx ``autoindex_format json``: [{"name", "type": "file"|"directory", "mtime", "size"}]."""
    doc = json.loads(body)
    if not isinstance(doc, list):
        raise ValueError("not an autoindex JSON list")
    out = []
    for e in doc:
        if not isinstance(e, dict) or "name" not in e:
            continue
        name = str(e["name"])
        if e.get("type") == "directory":
            out.append(IndexEntry(name=name.rstrip("/") + "/", mtime_ns=_mtime_ns(str(e.get("mtime", "")))))
        elif e.get("type") == "file":
            out.append(IndexEntry(name=name, size=int(e.get("size", -1)), mtime_ns=_mtime_ns(str(e.get("mtime", "")))))
    return out


def parse_html(body: bytes) -> list[IndexEntry]:
    """An HTML index: every relative link that stays in this directory (no sizes)."""
    out = []
    for href in _HREF.findall(body.decode("utf-8", errors="replace")):
        if href.startswith(("?", "#", "/", "../")) or "://" in href or href in ("./", "."):
            continue
        name = urllib.parse.unquote(href)
        if "/" in name.rstrip("/"):
            continue
        out.append(IndexEntry(name=name))
    return out


def parse(body: bytes, content_type: str) -> list[IndexEntry]:
    """Entries of an index page; ValueError when the page is not a directory index."""
    ct = content_type.split(";")[0].strip().lower()
    if ct == "application/json":
        return parse_json(body)
    if ct == "text/html":
        entries = parse_html(body)
        if not entries and b"Index of" not in body:
            raise ValueError("the HTML page is not a directory index")
        return entries
    raise ValueError(f"a {ct or 'typeless'} answer is not a directory index")
