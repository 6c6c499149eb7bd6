"""Fan-out of one document to many watch streams: subscribers wait for a newer version.

A stream always gets the latest version (intermediate ones may be skipped when several land at
once); versions on one stream strictly increase. Nobody polls etcd: the hub is fed by one etcd
watch per document and by this service's own writes.
"""

from __future__ import annotations

import threading
from typing import Any

Doc = dict[str, Any]


class Hub:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._doc: Doc | None = None
        self._closed = False

    @property
    def latest(self) -> Doc | None:
        return self._doc

    def publish(self, doc: Doc) -> None:
        with self._cond:
            if self._doc is None or int(doc["version"]) > int(self._doc["version"]):
                self._doc = doc
                self._cond.notify_all()

    def wait_newer(self, version: int, timeout: float) -> Doc | None:
        """The latest document if its version is above ``version``, waiting up to ``timeout``."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._closed or (self._doc is not None and int(self._doc["version"]) > version),
                timeout=timeout,
            )
            if self._doc is not None and int(self._doc["version"]) > version:
                return self._doc
            return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
