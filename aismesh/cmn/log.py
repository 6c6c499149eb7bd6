"""Structured logs: one JSON object a line, with the service name and, when known, the request id."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

# The id of the request being served in this thread (set by the gateway per HTTP request and
# by every gRPC server per call from the caller's metadata); every log line carries it.
request_id: ContextVar[str] = ContextVar("aismesh_request_id", default="")


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            doc["req_id"] = rid
        fields = getattr(record, "fields", None)
        if fields:
            doc.update(fields)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def json_handler(service: str) -> logging.Handler:
    """A stderr handler writing one JSON object a line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter(service))
    return handler


def setup(service: str, level: str = "INFO") -> logging.Logger:
    """Configure the root logger of a service process to write JSON lines to stderr."""
    root = logging.getLogger()
    root.handlers[:] = [json_handler(service)]
    root.setLevel(level)
    return logging.getLogger(service)


def event(logger: logging.Logger, msg: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``msg`` with structured ``fields`` (e.g. req_id, bucket, object)."""
    logger.log(level, msg, extra={"fields": fields})
