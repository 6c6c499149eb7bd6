"""Bucket and object URIs as the `ais` CLI writes them: ``ais://bucket/object``, ``s3://b``, ``ais://@uuid#ns/b``."""

from __future__ import annotations

from dataclasses import dataclass

SCHEMES = {"ais": "ais", "s3": "aws", "aws": "aws", "gs": "gcp", "gcp": "gcp", "az": "azure", "azure": "azure",
           "oc": "oci", "oci": "oci", "ht": "ht"}
SHORT = {"ais": "ais", "aws": "s3", "gcp": "gs", "azure": "az", "oci": "oc", "ht": "ht"}


@dataclass(frozen=True)
class BucketURI:
    provider: str
    name: str
    ns_uuid: str = ""
    ns_name: str = ""

    def query(self) -> dict[str, str]:
        q = {"provider": self.provider}
        if self.ns_uuid or self.ns_name:
            q["namespace"] = f"@{self.ns_uuid}#{self.ns_name}"
        return q

    def __str__(self) -> str:
        ns = ""
        if self.ns_uuid or self.ns_name:
            ns = (f"@{self.ns_uuid}" if self.ns_uuid else "") + (f"#{self.ns_name}" if self.ns_name else "") + "/"
        return f"{SHORT.get(self.provider, self.provider)}://{ns}{self.name}"


def parse(uri: str) -> tuple[BucketURI, str]:
    """``ais://b/dir/obj`` -> (bucket, "dir/obj"); a name without a scheme is an ais:// bucket.
    Raises ValueError naming what is wrong."""
    if uri.endswith(":") and uri[:-1].lower() in SCHEMES:  # "s3:" names a provider, as AIStore's CLI takes it
        return BucketURI(SCHEMES[uri[:-1].lower()], ""), ""
    if "://" in uri:
        scheme, _, rest = uri.partition("://")
        provider = SCHEMES.get(scheme.lower())
        if provider is None:
            raise ValueError(f'invalid bucket URI "{uri}": unknown provider "{scheme}" '
                             f"(expected one of {', '.join(sorted(set(SHORT.values())))})")
    else:
        provider, rest = "ais", uri
    ns_uuid = ns_name = ""
    if rest.startswith(("@", "#")):
        ns, _, rest = rest.partition("/")
        ns_uuid, _, ns_name = ns.removeprefix("@").partition("#")
    name, _, obj = rest.partition("/")
    return BucketURI(provider, name, ns_uuid, ns_name), obj


def parse_bucket(uri: str, *, allow_empty: bool = False) -> BucketURI:
    bck, obj = parse(uri)
    if not bck.name and not allow_empty:
        raise ValueError(f'invalid bucket URI "{uri}": the bucket name is missing')
    if obj:
        raise ValueError(f'invalid bucket URI "{uri}": expected a bucket, not an object')
    return bck


def parse_object(uri: str) -> tuple[BucketURI, str]:
    bck, obj = parse(uri)
    if not bck.name or not obj:
        raise ValueError(f'invalid object URI "{uri}": expected {SHORT.get(bck.provider, "ais")}://BUCKET/OBJECT')
    return bck, obj
