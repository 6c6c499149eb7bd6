"""AIS native API errors: the ErrHTTP JSON body (or the Hdr-Error header on HEAD).

The aistore SDK classifies errors by a regex over the message text (``ais://bucket`` and
``ais://bucket/object``), so messages follow AIS's wording exactly.
"""

from __future__ import annotations

import json

from flask import Response, request

from aismesh.cmn import errors

NODE = "p[gateway]"


def response(status: int, message: str) -> Response:
    doc = json.dumps({
        "message": message, "method": request.method, "url_path": request.path,
        "remote_addr": request.remote_addr or "", "caller": "", "node": NODE, "status": status,
    })
    if request.method == "HEAD":
        resp = Response(b"", status=status)
        resp.headers["Hdr-Error"] = doc
        return resp
    return Response(doc, status=status, content_type="application/json",
                    headers={"X-Content-Type-Options": "nosniff"})


# Statuses AIS gives finer causes than their kind's (by AisError.reason).
_STATUS_BY_REASON = {"body-too-large": 413}


def from_ais(err: errors.AisError) -> Response:
    # Never 5xx for conditions the SDK would retry for 90 s; 503 only when truly unavailable.
    return response(_STATUS_BY_REASON.get(err.reason, err.http_status), err.message)
