"""Bucket identity, provider aliases and name rules (AIS and S3), as pure functions."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from aismesh.cmn.errors import InvalidArgument
from aismesh.protos import types_pb2

PROVIDERS = ("ais", "aws", "gcp", "azure", "oci", "ht")
_ALIASES = {"": "ais", "s3": "aws", "gs": "gcp", "az": "azure", "oc": "oci"}
# The short scheme AIS prints a provider with.
_SCHEMES = {"ais": "ais", "aws": "s3", "gcp": "gs", "azure": "az", "oci": "oc", "ht": "ht"}

MAX_OBJECT_NAME_BYTES = 1024
_AIS_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_S3_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def normalize_provider(provider: str) -> str:
    """Canonical provider for any accepted spelling (``s3`` -> ``aws``); raises on unknown ones."""
    p = _ALIASES.get(provider.lower(), provider.lower())
    if p not in PROVIDERS:
        raise InvalidArgument(f'invalid backend provider "{provider}": expected one of {", ".join(PROVIDERS)}')
    return p


@dataclass(frozen=True, order=True)
class Bck:
    """A bucket's identity: (provider, namespace, name)."""

    name: str
    provider: str = "ais"
    ns_uuid: str = ""
    ns_name: str = ""

    @property
    def ns_wire(self) -> str:
        """The namespace as AIS writes it: ``@uuid#name``."""
        return f"@{self.ns_uuid}#{self.ns_name}"

    @property
    def uname(self) -> str:
        """``provider/@uuid#ns/name``: the BMD key and the HRW prefix of every object."""
        return f"{self.provider}/{self.ns_wire}/{self.name}"

    def object_uname(self, obj: str) -> str:
        return f"{self.uname}/{obj}"

    def display(self) -> str:
        """How AIS prints a bucket: ``ais://b``, ``s3://b``, ``ais://@uuid#ns/b``."""
        scheme = _SCHEMES[self.provider]
        if not self.ns_uuid and not self.ns_name:
            return f"{scheme}://{self.name}"
        ns = f"@{self.ns_uuid}" if self.ns_uuid else ""
        if self.ns_name:
            ns += f"#{self.ns_name}"
        return f"{scheme}://{ns}/{self.name}"

    @property
    def is_remote(self) -> bool:
        return self.provider != "ais" or bool(self.ns_uuid)

    @property
    def adapter(self) -> str:
        """The backend adapter that serves the bucket: a remote cluster's namespace
        (``ais://@remais/b``, ``s3://@remais/data``) goes through the ais adapter, the remote
        cluster then reaches the provider."""
        return "ais" if self.ns_uuid else self.provider

    def to_proto(self) -> types_pb2.Bck:
        return types_pb2.Bck(
            provider=self.provider, name=self.name,
            ns=types_pb2.Namespace(uuid=self.ns_uuid, name=self.ns_name),
        )

    @classmethod
    def from_proto(cls, b: types_pb2.Bck) -> Bck:
        return cls(name=b.name, provider=b.provider or "ais", ns_uuid=b.ns.uuid, ns_name=b.ns.name)

    @classmethod
    def from_uname(cls, uname: str) -> Bck:
        provider, ns, name = uname.split("/", 2)
        uuid, _, ns_name = ns.removeprefix("@").partition("#")
        return cls(name=name, provider=provider, ns_uuid=uuid, ns_name=ns_name)


def parse_bck_uri(uri: str) -> Bck:
    """``s3://@remais/data``, ``ais://@uuid#ns/b``, ``ais://b`` -> Bck; raises InvalidArgument."""
    scheme, sep, rest = uri.partition("://")
    if not sep or not rest:
        raise InvalidArgument(f'invalid bucket "{uri}": expected PROVIDER://[@UUID[#NS]/]BUCKET (e.g. s3://@remais/data)')
    provider = normalize_provider(scheme)
    uuid = ns = ""
    if rest.startswith(("@", "#")):
        ns_part, _, rest = rest.partition("/")
        uuid, ns = parse_namespace(ns_part)
    if not rest or "/" in rest.strip("/"):
        raise InvalidArgument(f'invalid bucket "{uri}": expected a bucket, not an object or nothing')
    return Bck(name=rest.strip("/"), provider=provider, ns_uuid=uuid, ns_name=ns)


def parse_namespace(wire: str) -> tuple[str, str]:
    """``@uuid#name`` -> (uuid, name); no ``#`` means the whole string is the uuid."""
    s = wire.removeprefix("@")
    uuid, _, name = s.partition("#")
    return uuid, name


def ais_bucket_name_error(name: str) -> str:
    """Why ``name`` is not a valid AIS bucket name, or "" when it is (AIS CheckAlphaPlus)."""
    if not name:
        return "bucket name is empty"
    if not _AIS_NAME.match(name):
        if len(name) > 64:
            return f'bucket name "{name}" is too long: at most 64 characters'
        return (f'bucket name "{name}" is invalid: may only contain letters, numbers, '
                "dashes (-), underscores (_), and dots (.)")
    if ".." in name:
        return f'bucket name "{name}" is invalid: may not contain ".."'
    if name.startswith("."):
        return f'bucket name "{name}" is invalid: may not start with "." (reserved)'
    return ""


def s3_bucket_name_error(name: str) -> str:
    """Why ``name`` is not a valid S3 bucket name, or "" when it is."""
    if not 3 <= len(name) <= 63:
        return f'bucket name "{name}" must be between 3 and 63 characters long'
    if not _S3_NAME.match(name):
        return (f'bucket name "{name}" may only contain lower-case letters, numbers, dots and '
                "hyphens, and must begin and end with a letter or number")
    if ".." in name or ".-" in name or "-." in name:
        return f'bucket name "{name}" may not contain adjacent dots or a dot next to a hyphen'
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return ""
    return f'bucket name "{name}" must not be formatted as an IP address'


def check_object_name(name: str) -> None:
    """Raise InvalidArgument unless ``name`` is a usable object name (1..1024 UTF-8 bytes)."""
    if not name:
        raise InvalidArgument("object name is empty")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise InvalidArgument(f"object name is not valid UTF-8: {e}") from None
    if size > MAX_OBJECT_NAME_BYTES:
        raise InvalidArgument(
            f"object name is too long: {size} bytes (at most {MAX_OBJECT_NAME_BYTES})", reason="name-too-long"
        )


# Cloud bucket names and namespace parts: what every provider's names have in common, and
# nothing that can break a path, a uname ("provider/@uuid#ns/name") or a URL.
_IDENT = re.compile(r"^[A-Za-z0-9_.\-]+$")
_IDENT_MAX = {"bucket name": 255, "namespace uuid": 64, "namespace name": 64}


def identity_error(bck: Bck) -> str:
    """Why a bucket's whole identity (provider, namespace, name) is unusable, or "" when it is fine.
    Checked by the one writer of the BMD, whatever front end the request came through, and by
    the gateway before it asks a backend adapter about a remote bucket."""
    if bck.provider not in PROVIDERS:
        return f'invalid backend provider "{bck.provider}": expected one of {", ".join(PROVIDERS)}'
    if bck.provider == "ais":
        problem = ais_bucket_name_error(bck.name)
        if problem:
            return problem
    for what, value in (("bucket name", bck.name), ("namespace uuid", bck.ns_uuid), ("namespace name", bck.ns_name)):
        if not value:
            if what == "bucket name":
                return "bucket name is empty"
            continue
        if len(value) > _IDENT_MAX[what]:
            return f'{what} "{value}" is too long: at most {_IDENT_MAX[what]} characters'
        if not _IDENT.match(value) or ".." in value or value.startswith("."):
            return (f'{what} "{value}" is invalid: may only contain letters, numbers, dashes (-), '
                    'underscores (_) and dots (.), and may not start with "." or contain ".."')
    return ""
