"""SigV4 (and V2) verification: AWS's documented examples, botocore's signer as the oracle, refusals."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.s3 import chunked
from services.gateway.s3.auth import ChunkSigner, RawRequest, canonical_query, verify
from services.gateway.s3.errors import S3Error

AK, SK = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEYS = {AK: SK}
DOC_TIME = datetime(2013, 5, 24, 0, 0, 10, tzinfo=UTC)
EMPTY = hashlib.sha256(b"").hexdigest()


def code(req: RawRequest, now: datetime = DOC_TIME, keys: dict[str, str] = KEYS) -> str:
    with pytest.raises(S3Error) as e:
        verify(req, keys, now)
    return e.value.code


def doc_get(signature: str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") -> RawRequest:
    """The GET example of AWS's "Signature Calculations for the Authorization Header"."""
    auth = (f"AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,"
            f"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature={signature}")
    return RawRequest(method="GET", path="/test.txt", query="", headers={
        "host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9", "x-amz-content-sha256": EMPTY,
        "x-amz-date": "20130524T000000Z", "authorization": auth})


def test_aws_documented_header_example() -> None:
    v = verify(doc_get(), KEYS, DOC_TIME)
    assert v.access_key == AK and v.payload_hash == EMPTY


def test_aws_documented_presigned_example() -> None:
    query = (f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={AK}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
             "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
             "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    args = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{AK}/20130524/us-east-1/s3/aws4_request",
            "X-Amz-Date": "20130524T000000Z", "X-Amz-Expires": "86400", "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"}
    req = RawRequest("GET", "/test.txt", query, {"host": "examplebucket.s3.amazonaws.com"}, args)
    assert verify(req, KEYS, DOC_TIME).access_key == AK
    assert code(req, DOC_TIME + timedelta(days=1, seconds=1)) == "AccessDenied"  # expired
    tampered = RawRequest("GET", "/test.txt", query.replace("86400", "86401"), req.headers,
                          {**args, "X-Amz-Expires": "86401"})
    assert code(tampered) == "SignatureDoesNotMatch"


def test_aws_documented_streaming_chunk_signatures() -> None:
    """AWS's chunked upload example: 64 KiB + 1 KiB of "a", chained from the seed signature."""
    seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    auth = (f"AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;"
            "content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
            f"Signature={seed}")
    headers = {"host": "s3.amazonaws.com", "x-amz-date": "20130524T000000Z",
               "x-amz-storage-class": "REDUCED_REDUNDANCY", "authorization": auth,
               "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
               "content-encoding": "aws-chunked", "x-amz-decoded-content-length": "66560", "content-length": "66824"}
    v = verify(RawRequest("PUT", "/examplebucket/chunkObject.txt", "", headers), KEYS, DOC_TIME)
    sigs = ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"]
    parts = [b"a" * 65536, b"a" * 1024, b""]
    body = b"".join(f"{len(p):x};chunk-signature={s}\r\n".encode() + p + b"\r\n"
                    for p, s in zip(parts, sigs, strict=True))
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        out = body[pos:pos + n]
        pos += len(out)
        return out

    assert b"".join(chunked.aws_chunked_body(read, 4096, ChunkSigner(v))) == b"a" * 66560
    bad = body.replace(b"a" * 1024, b"a" * 1023 + b"b")
    pos = 0
    body = bad
    with pytest.raises(Exception) as e:
        b"".join(chunked.aws_chunked_body(read, 4096, ChunkSigner(v)))
    assert getattr(e.value, "reason", "") == "chunk-signature"


def test_refusals() -> None:
    assert code(doc_get(signature="0" * 64)) == "SignatureDoesNotMatch"
    assert code(doc_get(), keys={"OTHER": SK}) == "InvalidAccessKeyId"
    assert code(doc_get(), now=DOC_TIME + timedelta(minutes=16)) == "RequestTimeTooSkewed"
    assert code(RawRequest("GET", "/b/k", "", {"host": "h"})) == "AccessDenied"  # not signed at all
    bad_cred = doc_get()
    bad_cred = RawRequest("GET", "/test.txt", "", {**bad_cred.headers, "authorization": bad_cred.headers[
        "authorization"].replace("/s3/", "/ec2/")})
    assert code(bad_cred) == "AuthorizationHeaderMalformed"


def test_canonical_query_sorts_and_encodes() -> None:
    assert canonical_query("uploads") == "uploads="
    assert canonical_query("prefix=a%20b&max-keys=2&delimiter=%2F") == "delimiter=%2F&max-keys=2&prefix=a%20b"
    assert canonical_query("X-Amz-Signature=abc&a=1", drop="X-Amz-Signature") == "a=1"


def _raw(req: AWSRequest) -> RawRequest:
    parts = urlsplit(req.url)
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers.setdefault("host", parts.netloc)
    args = {}
    for item in parts.query.split("&"):
        if item:
            k, _, v = item.partition("=")
            from urllib.parse import unquote

            args[unquote(k)] = unquote(v)
    return RawRequest(req.method, parts.path, parts.query, headers, args, prefix="/s3")


keys_st = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x24F, blacklist_characters="\x7f"),
                  min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(key=keys_st, prefix=keys_st, secret=st.text(min_size=1, max_size=40))
def test_botocore_signatures_verify(key: str, prefix: str, secret: str) -> None:
    """What botocore signs (header and presigned, V4 and V2) verifies; another secret does not."""
    url = f"http://127.0.0.1:8080/s3/bkt/{quote(key, safe='/~')}?list-type=2&prefix={quote(prefix, safe='')}"
    now = datetime.now(UTC)
    creds = Credentials("AKID", secret)
    for signer in (S3SigV4Auth(creds, "s3", "us-east-1"), S3SigV4QueryAuth(creds, "s3", "us-east-1", expires=60),
                   HmacV1QueryAuth(creds, expires=60)):
        req = AWSRequest(method="GET", url=url, headers={"x-amz-content-sha256": EMPTY})
        signer.add_auth(req)
        if isinstance(signer, S3SigV4QueryAuth | HmacV1QueryAuth):
            req.url = req.prepare().url
        raw = _raw(req)
        assert verify(raw, {"AKID": secret}, now).access_key == "AKID"
        with pytest.raises(S3Error) as e:
            verify(raw, {"AKID": secret + "x"}, now)
        assert e.value.code == "SignatureDoesNotMatch"


def test_signed_trailer_is_verified() -> None:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: chunk signatures, then x-amz-trailer-signature
    over the trailer lines, chained from the last chunk's signature."""
    import hmac

    from services.gateway.s3.auth import Verified, signing_key

    key = signing_key(SK, "20130524", "us-east-1")
    scope = "20130524/us-east-1/s3/aws4_request"
    v = Verified(access_key=AK, payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", key=key,
                 amz_date="20130524T000000Z", scope=scope, seed_signature="seed")

    def sig(text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    prev, body = "seed", b""
    for chunk in (b"hello", b""):
        prev = sig("\n".join(("AWS4-HMAC-SHA256-PAYLOAD", v.amz_date, scope, prev, EMPTY,
                              hashlib.sha256(chunk).hexdigest())))
        body += f"{len(chunk):x};chunk-signature={prev}\r\n".encode() + chunk + (b"\r\n" if chunk else b"")
    trailer = "x-amz-checksum-crc32:NhCmhg=="
    trailer_sig = sig("\n".join(("AWS4-HMAC-SHA256-TRAILER", v.amz_date, scope, prev,
                                 hashlib.sha256((trailer + "\n").encode()).hexdigest())))

    def run(trailer_line: str) -> dict[str, str]:
        data = body + f"{trailer_line}\r\nx-amz-trailer-signature:{trailer_sig}\r\n\r\n".encode()
        pos = 0

        def read(n: int) -> bytes:
            nonlocal pos
            out = data[pos:pos + n]
            pos += len(out)
            return out

        found: dict[str, str] = {}
        assert b"".join(chunked.aws_chunked_body(read, 7, ChunkSigner(v), found)) == b"hello"
        return found

    assert run(trailer) == {"x-amz-checksum-crc32": "NhCmhg=="}
    with pytest.raises(Exception) as e:
        run("x-amz-checksum-crc32:AAAAAA==")  # a trailer changed after signing
    assert getattr(e.value, "reason", "") == "chunk-signature"
