"""AWS Signature Version 4 for the S3 front end: header and presigned-URL authentication.

With access keys in the cluster config, every S3 request must be signed with one of them:
an ``Authorization: AWS4-HMAC-SHA256 ...`` header, or a presigned query string
(``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires``,
``X-Amz-SignedHeaders``, ``X-Amz-Signature``). The canonical request is built from the raw
request target as the client sent it (path with the ``/s3`` prefix when it has one, query
string as sent), so what is verified is exactly what was signed.

The payload: ``x-amz-content-sha256`` is a hex digest (checked while the body streams, see
``PayloadCheck``), ``UNSIGNED-PAYLOAD``, or a ``STREAMING-*`` mode whose seed signature is
the header's and whose chunk signatures ``ChunkSigner`` verifies as the aws-chunked decoder
reads them.

Everything here except ``authenticate`` (the Flask edge) is plain functions over plain data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from aismesh.cmn import errors
from services.gateway.s3.errors import S3Error

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 15 * 60
MAX_EXPIRES_S = 7 * 24 * 3600
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
STREAMING_UNSIGNED = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SPACES = re.compile(r"\s+")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
# x-amz-* headers SDKs send without signing them; they change nothing about the request.
_UNSIGNED_OK = frozenset(("x-amz-user-agent", "x-amzn-trace-id"))


# --- the canonical request (pure) ------------------------------------------------------------


def uri_encode(text: str, safe: str = "") -> str:
    """AWS's URI encoding: every byte but the unreserved set (and ``safe``) as %XX, upper case."""
    return quote(text, safe="-_.~" + safe)


def canonical_query(raw_query: str, drop: str = "") -> str:
    """The query string as AWS canonicalizes it: pairs decoded once, re-encoded, sorted."""
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        name, value = unquote(name), unquote(value)
        if name == drop:
            continue
        pairs.append((uri_encode(name), uri_encode(value)))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_header_value(value: str) -> str:
    return _SPACES.sub(" ", value.strip())


def canonical_request(method: str, uri: str, query: str, headers: Mapping[str, str], signed: list[str],
                      payload_hash: str) -> str:
    """The six lines of a SigV4 canonical request; ``headers`` maps lower-case names to values."""
    lines = "".join(f"{h}:{canonical_header_value(headers.get(h, ''))}\n" for h in signed)
    return "\n".join((method, uri, query, lines, ";".join(signed), payload_hash))


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join((ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()))


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def uri_candidates(raw_path: str) -> list[str]:
    """The canonical URIs a client may have signed for this raw path: the path as sent (what
    botocore and most SDKs sign for S3), then its normal AWS encoding (decoded, re-encoded)."""
    normal = uri_encode(unquote(raw_path), safe="/")
    return [raw_path] if normal == raw_path else [raw_path, normal]


# --- what the client sent ----------------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    access_key: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True)
class SignedRequest:
    """The signature parts of a request, from its Authorization header or its query string."""

    credential: Credential
    amz_date: str
    signed_headers: list[str]
    signature: str
    payload_hash: str
    is_presigned: bool = False
    expires_s: int = 0


def _malformed(message: str, presigned: bool) -> S3Error:
    if presigned:
        return S3Error("AuthorizationQueryParametersError", 400, message)
    return S3Error("AuthorizationHeaderMalformed", 400, "The authorization header is malformed; " + message)


def parse_credential(text: str, presigned: bool) -> Credential:
    parts = text.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise _malformed(f'the Credential "{text}" is not <key>/<date>/<region>/<service>/aws4_request',
                         presigned)
    if not re.fullmatch(r"\d{8}", parts[1]):
        raise _malformed(f'the credential date "{parts[1]}" is not in yyyyMMdd format', presigned)
    if parts[3] != "s3":
        raise _malformed(f'incorrect service "{parts[3]}": this endpoint expects "s3"', presigned)
    return Credential(access_key=parts[0], date=parts[1], region=parts[2], service=parts[3])


def parse_authorization(value: str, headers: Mapping[str, str]) -> SignedRequest:
    """The parts of an ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`` header."""
    rest = value[len(ALGORITHM):].strip()
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, v = item.strip().partition("=")
        if sep:
            fields[name.strip()] = v.strip()
    for name in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(name):
            raise _malformed(f"the {name} component is missing", False)
    amz_date = headers.get("x-amz-date") or _from_http_date(headers.get("date", ""))
    if not amz_date:
        raise S3Error("AccessDenied", 403, "AWS authentication requires a valid Date or x-amz-date header")
    payload = headers.get("x-amz-content-sha256", "")
    if not payload:
        raise S3Error("InvalidRequest", 400, "Missing required header for this request: x-amz-content-sha256")
    return SignedRequest(credential=parse_credential(fields["Credential"], False), amz_date=amz_date,
                         signed_headers=fields["SignedHeaders"].lower().split(";"),
                         signature=fields["Signature"].lower(), payload_hash=payload)


def _from_http_date(value: str) -> str:
    from email.utils import parsedate_to_datetime

    if not value:
        return ""
    try:
        return parsedate_to_datetime(value).astimezone(UTC).strftime(_AMZ_DATE)
    except (TypeError, ValueError):
        return ""


def parse_presigned(args: Mapping[str, str], headers: Mapping[str, str]) -> SignedRequest:
    """The parts of a presigned query string (``X-Amz-*`` parameters)."""
    if args.get("X-Amz-Algorithm") != ALGORITHM:
        raise _malformed(f'X-Amz-Algorithm only supports "{ALGORITHM}"', True)
    for name in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"):
        if not args.get(name):
            raise _malformed(f"Query-string authentication version 4 requires the {name} parameter", True)
    expires = args["X-Amz-Expires"]
    if not expires.isdigit():
        raise _malformed("X-Amz-Expires should be a number", True)
    if int(expires) > MAX_EXPIRES_S:
        raise _malformed(f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_S}", True)
    return SignedRequest(credential=parse_credential(args["X-Amz-Credential"], True), amz_date=args["X-Amz-Date"],
                         signed_headers=args["X-Amz-SignedHeaders"].lower().split(";"),
                         signature=args["X-Amz-Signature"].lower(),
                         # as botocore presigns: a payload hash sent as a header is the one signed
                         payload_hash=(args.get("X-Amz-Content-Sha256") or headers.get("x-amz-content-sha256")
                                       or UNSIGNED),
                         is_presigned=True, expires_s=int(expires))


def parse_amz_date(value: str, presigned: bool) -> datetime:
    try:
        return datetime.strptime(value, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        if presigned:
            raise _malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"", True) from None
        raise S3Error("AccessDenied", 403, "AWS authentication requires a valid Date or x-amz-date header") from None


# --- the verdict -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawRequest:
    """A request as signed: method, raw path and query, and lower-case header names to values."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    args: Mapping[str, str] = field(default_factory=dict)
    prefix: str = ""     # the path prefix the S3 API is served under ("/s3"), if the path has it


def canonical_forms(req: RawRequest) -> list[tuple[str, Mapping[str, str]]]:
    """(canonical URI, headers) pairs the client may have signed. Besides the path as sent and
    its normal encoding: s3cmd given an endpoint with a path (``host_base = host:port/s3``) signs
    the prefix as part of the host (``host:host:port/s3``) and the rest as the path."""
    forms: list[tuple[str, Mapping[str, str]]] = [(uri, req.headers) for uri in uri_candidates(req.path)]
    if req.prefix and req.path.startswith(req.prefix + "/"):
        moved = {**req.headers, "host": req.headers.get("host", "") + req.prefix}
        forms += [(uri, moved) for uri in uri_candidates(req.path[len(req.prefix):])]
    return forms


@dataclass(frozen=True)
class Verified:
    """An authenticated request: its access key, and what the body must still prove."""

    access_key: str
    payload_hash: str
    key: bytes           # the signing key of the day, for chunk signatures
    amz_date: str
    scope: str
    seed_signature: str


def verify(req: RawRequest, secrets: Mapping[str, str], now: datetime) -> Verified:
    """Check the request's SigV4 signature against ``secrets`` (access key -> secret key);
    raise the S3Error AWS answers (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch...)."""
    auth = req.headers.get("authorization", "")
    if auth.startswith(ALGORITHM):
        signed = parse_authorization(auth, req.headers)
    elif "X-Amz-Algorithm" in req.args or "X-Amz-Credential" in req.args:
        signed = parse_presigned(req.args, req.headers)
    elif auth.startswith("AWS ") or ("Signature" in req.args and "AWSAccessKeyId" in req.args):
        return verify_v2(req, secrets, now)
    elif auth:
        raise S3Error("InvalidArgument", 400, "Unsupported Authorization Type",
                      extra=(("ArgumentName", "Authorization"), ("ArgumentValue", auth[:64])))
    else:
        raise S3Error("AccessDenied", 403, "Access Denied")
    cred = signed.credential
    when = parse_amz_date(signed.amz_date, signed.is_presigned)
    if cred.date != signed.amz_date[:8]:
        raise _malformed(f'the credential date "{cred.date}" does not match the request date '
                         f'"{signed.amz_date[:8]}"', signed.is_presigned)
    server_time = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    if signed.is_presigned:
        if (now - when).total_seconds() > signed.expires_s:
            expired_at = datetime.fromtimestamp(when.timestamp() + signed.expires_s, UTC)
            raise S3Error("AccessDenied", 403, "Request has expired",
                          extra=(("X-Amz-Expires", str(signed.expires_s)),
                                 ("Expires", expired_at.strftime("%Y-%m-%dT%H:%M:%SZ")), ("ServerTime", server_time)))
        if (when - now).total_seconds() > MAX_SKEW_S:
            raise S3Error("AccessDenied", 403, "Request is not valid yet")
    elif abs((now - when).total_seconds()) > MAX_SKEW_S:
        raise S3Error("RequestTimeTooSkewed", 403,
                      "The difference between the request time and the current time is too large.",
                      extra=(("RequestTime", when.strftime("%Y-%m-%dT%H:%M:%SZ")), ("ServerTime", server_time),
                             ("MaxAllowedSkewMilliseconds", str(MAX_SKEW_S * 1000))))
    secret = secrets.get(cred.access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.",
                      extra=(("AWSAccessKeyId", cred.access_key),))
    if "host" not in signed.signed_headers:
        raise _malformed("the host header must be signed", signed.is_presigned)
    # An x-amz-* header changes what a request does (x-amz-copy-source turns a PUT into a copy):
    # one added to a signed request, or to a presigned URL, is refused, as S3 refuses it.
    unsigned = sorted(h for h in req.headers if h.startswith("x-amz-") and h not in signed.signed_headers
                      and h not in _UNSIGNED_OK)
    if unsigned:
        raise S3Error("AccessDenied", 403, "There were headers present in the request which were not signed",
                      extra=(("HeadersNotSigned", ", ".join(unsigned)),))
    payload = signed.payload_hash
    if not signed.is_presigned and not (payload in (UNSIGNED, STREAMING_UNSIGNED) or payload in STREAMING_SIGNED
                                        or _HEX64.fullmatch(payload)):
        raise S3Error("InvalidArgument", 400, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a "
                      "SHA256 hex digest", extra=(("ArgumentName", "x-amz-content-sha256"),
                                                  ("ArgumentValue", payload[:80])))
    key = signing_key(secret, cred.date, cred.region, cred.service)
    query = canonical_query(req.query, drop="X-Amz-Signature" if signed.is_presigned else "")
    first_sts = ""
    first_canonical = ""
    for uri, headers in canonical_forms(req):
        canonical = canonical_request(req.method, uri, query, headers, signed.signed_headers, payload)
        sts = string_to_sign(signed.amz_date, cred.scope, canonical)
        if hmac.compare_digest(sign(key, sts), signed.signature):
            return Verified(access_key=cred.access_key, payload_hash=payload, key=key, amz_date=signed.amz_date,
                            scope=cred.scope, seed_signature=signed.signature)
        first_sts, first_canonical = first_sts or sts, first_canonical or canonical
    raise S3Error("SignatureDoesNotMatch", 403,
                  "The request signature we calculated does not match the signature you provided. "
                  "Check your key and signing method.",
                  extra=(("AWSAccessKeyId", cred.access_key), ("StringToSign", first_sts),
                         ("SignatureProvided", signed.signature), ("CanonicalRequest", first_canonical)))


# --- Signature Version 2 (what boto3 presigns with by default, and older tools sign with) ------

# The query parameters that are part of a SigV2 CanonicalizedResource (botocore's list).
V2_SUBRESOURCES = frozenset((
    "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
    "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
    "response-content-type", "response-content-language", "response-expires", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging", "restore",
    "storageClass", "notification", "replication", "analytics", "metrics", "inventory", "select", "select-type",
    "object-lock",
))


def v2_resource(path: str, raw_query: str) -> str:
    """SigV2's CanonicalizedResource: the path, then the sub-resources of the query, sorted."""
    pairs = []
    for item in raw_query.split("&"):
        name, sep, value = item.partition("=")
        if unquote(name) in V2_SUBRESOURCES:
            pairs.append((unquote(name), unquote(value) if sep else None))
    pairs.sort(key=lambda p: p[0])
    query = "&".join(n if v is None else f"{n}={v}" for n, v in pairs)
    return path + ("?" + query if query else "")


def v2_string_to_sign(method: str, headers: Mapping[str, str], date: str, resource: str) -> str:
    amz = "".join(f"{k}:{canonical_header_value(headers[k])}\n" for k in sorted(headers) if k.startswith("x-amz-"))
    return "\n".join((method, headers.get("content-md5", ""), headers.get("content-type", ""), date)) + "\n" + amz \
        + resource


def sign_v2(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode("utf-8"), hashlib.sha1).digest()).decode()


def verify_v2(req: RawRequest, secrets: Mapping[str, str], now: datetime) -> Verified:
    """AWS Signature Version 2: ``Authorization: AWS key:signature`` or a presigned query
    (``AWSAccessKeyId``, ``Expires``, ``Signature``)."""
    auth = req.headers.get("authorization", "")
    server_time = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    if auth.startswith("AWS "):
        access_key, sep, claimed = auth[4:].strip().rpartition(":")
        if not sep or not access_key:
            raise S3Error("InvalidArgument", 400,
                          "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
                          extra=(("ArgumentName", "Authorization"), ("ArgumentValue", auth[:64])))
        date_header = req.headers.get("x-amz-date") or req.headers.get("date", "")
        when = _parse_http_date(date_header)
        if when is None:
            raise S3Error("AccessDenied", 403, "AWS authentication requires a valid Date or x-amz-date header")
        if abs((now - when).total_seconds()) > MAX_SKEW_S:
            raise S3Error("RequestTimeTooSkewed", 403,
                          "The difference between the request time and the current time is too large.",
                          extra=(("RequestTime", date_header), ("ServerTime", server_time),
                                 ("MaxAllowedSkewMilliseconds", str(MAX_SKEW_S * 1000))))
        date = "" if "x-amz-date" in req.headers else req.headers.get("date", "")
    else:
        access_key, claimed, expires = req.args.get("AWSAccessKeyId", ""), req.args.get("Signature", ""), \
            req.args.get("Expires", "")
        if not expires.isdigit():
            raise S3Error("AccessDenied", 403, "Query-string authentication requires the Signature, Expires and "
                          "AWSAccessKeyId parameters")
        if now.timestamp() > int(expires):
            raise S3Error("AccessDenied", 403, "Request has expired",
                          extra=(("Expires", datetime.fromtimestamp(int(expires), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
                                 ("ServerTime", server_time)))
        date = expires
        claimed = claimed.replace(" ", "+")  # a "+" of the base64 signature sent unescaped
    secret = secrets.get(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.",
                      extra=(("AWSAccessKeyId", access_key),))
    paths = [req.path]
    if req.prefix and req.path.startswith(req.prefix + "/"):
        paths.append(req.path[len(req.prefix):])  # s3cmd with host_base = host:port/s3
    first = ""
    for path in paths:
        sts = v2_string_to_sign(req.method, req.headers, date, v2_resource(path, req.query))
        if hmac.compare_digest(sign_v2(secret, sts), claimed):
            return Verified(access_key=access_key, payload_hash=UNSIGNED, key=b"", amz_date="", scope="",
                            seed_signature="")
        first = first or sts
    raise S3Error("SignatureDoesNotMatch", 403,
                  "The request signature we calculated does not match the signature you provided. "
                  "Check your key and signing method.",
                  extra=(("AWSAccessKeyId", access_key), ("StringToSign", first), ("SignatureProvided", claimed)))


def _parse_http_date(value: str) -> datetime | None:
    text = _from_http_date(value) or value
    try:
        return datetime.strptime(text, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        return None


# --- the payload -------------------------------------------------------------------------------


def content_sha256_mismatch(computed: str) -> errors.InvalidArgument:
    return errors.InvalidArgument("The provided 'x-amz-content-sha256' header does not match what was computed "
                                  f"(computed {computed}).", reason="content-sha256-mismatch")


class PayloadCheck:
    """A ``wsgi.input`` stand-in that hashes what is read and, at the end of the body, fails
    the read if its SHA256 is not the signed ``x-amz-content-sha256``: the handler consuming
    the body then fails before anything is committed."""

    def __init__(self, inner: object, expected_hex: str, length: int | None) -> None:
        self._inner = inner
        self._expected = expected_hex
        self._left = length
        self._sha = hashlib.sha256()
        self._done = False

    def _check(self, data: bytes) -> bytes:
        self._sha.update(data)
        if self._left is not None:
            self._left -= len(data)
            at_end = self._left <= 0
        else:
            at_end = not data
        if at_end and not self._done:
            self._done = True
            computed = self._sha.hexdigest()
            if computed != self._expected:
                raise content_sha256_mismatch(computed)
        return data

    def read(self, size: int = -1) -> bytes:
        if self._left is not None and self._left <= 0:
            return self._check(b"")
        data: bytes = self._inner.read(size)  # type: ignore[attr-defined]
        if not data and self._left:
            return data  # short body: the reader reports it (incomplete-body)
        return self._check(data)

    def readline(self, size: int = -1) -> bytes:
        return self._check(self._inner.readline(size))  # type: ignore[attr-defined]


class ChunkSigner:
    """Verifies the chunk signatures of a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` body, each
    chained to the previous one from the seed (the Authorization header's signature)."""

    def __init__(self, v: Verified) -> None:
        self._key, self._date, self._scope = v.key, v.amz_date, v.scope
        self._previous = v.seed_signature
        self._sha = hashlib.sha256()
        self._claimed = ""

    def begin(self, chunk_header: bytes) -> None:
        """A chunk header ``<hex size>;chunk-signature=<sig>``: the signature it must have."""
        _, _, ext = chunk_header.partition(b";")
        name, _, sig = ext.decode("latin-1").partition("=")
        if name.strip() != "chunk-signature" or not sig:
            raise errors.AccessDenied("a chunk of a signed aws-chunked body carries no chunk-signature",
                                      reason="chunk-signature")
        self._claimed = sig.strip().lower()
        self._sha = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._sha.update(data)

    def end(self) -> None:
        sts = "\n".join(("AWS4-HMAC-SHA256-PAYLOAD", self._date, self._scope, self._previous, EMPTY_SHA256,
                         self._sha.hexdigest()))
        if not hmac.compare_digest(sign(self._key, sts), self._claimed):
            raise errors.AccessDenied("The chunk signature we calculated does not match the signature you provided",
                                      reason="chunk-signature")
        self._previous = self._claimed

    def trailer(self, lines: list[bytes], claimed: str) -> None:
        """The ``x-amz-trailer-signature`` over the trailer lines (``name:value``)."""
        text = b"".join(line.strip() + b"\n" for line in lines)
        sts = "\n".join(("AWS4-HMAC-SHA256-TRAILER", self._date, self._scope, self._previous,
                         hashlib.sha256(text).hexdigest()))
        if not hmac.compare_digest(sign(self._key, sts), claimed.lower()):
            raise errors.AccessDenied("The trailer signature we calculated does not match the signature you "
                                      "provided", reason="chunk-signature")


# --- the Flask edge ----------------------------------------------------------------------------

Environ = dict[str, object]


def headers_of(environ: Environ) -> dict[str, str]:
    """The request's headers by lower-case name, as the WSGI server passed them."""
    out: dict[str, str] = {}
    for k, v in environ.items():
        if k.startswith("HTTP_"):
            out[k[5:].replace("_", "-").lower()] = str(v)
    for k, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(k):
            out[name] = str(environ[k])
    return out


def raw_target(environ: Environ) -> tuple[str, str]:
    """(path, query) exactly as the client sent them."""
    raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
    if raw:
        path, _, query = raw.partition("?")
        if "://" in path:  # absolute-form request target
            path = "/" + path.split("://", 1)[1].split("/", 1)[-1]
        return path, query
    return quote(str(environ.get("PATH_INFO", "")), safe="/"), str(environ.get("QUERY_STRING", ""))


def authenticate(environ: Environ, secrets: Mapping[str, str], args: Mapping[str, str], prefix: str = "",
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Verified:
    """Verify the request in ``environ``; arm the payload check when the body's hash was signed."""
    path, query = raw_target(environ)
    headers = headers_of(environ)
    v = verify(RawRequest(method=str(environ.get("REQUEST_METHOD", "")), path=path, query=query, headers=headers,
                          args=args, prefix=prefix), secrets, now())
    if _HEX64.fullmatch(v.payload_hash):
        length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
        length = int(length_text) if length_text.isdigit() else None
        if length == 0 or (length is None and "chunked" not in str(environ.get("HTTP_TRANSFER_ENCODING", ""))):
            if v.payload_hash != EMPTY_SHA256:
                raise content_sha256_mismatch(EMPTY_SHA256)
        else:
            environ["wsgi.input"] = PayloadCheck(environ["wsgi.input"], v.payload_hash, length)
    return v


# Where a request's verified signature waits in its WSGI environ (for its aws-chunked body).
VERIFIED = "aismesh.s3_auth"


def chunk_signer(environ: Environ) -> ChunkSigner | None:
    """For the aws-chunked body of the request of ``environ``: the chunk-signature verifier when
    the body is signed."""
    v = environ.get(VERIFIED)
    if not isinstance(v, Verified) or v.payload_hash not in STREAMING_SIGNED:
        return None
    return ChunkSigner(v)
