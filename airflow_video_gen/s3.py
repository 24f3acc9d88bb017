"""S3 addressing shared by submit, staging and archive: URIs checked, objects presigned."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def parse_s3_uri(uri: str, *, key_required: bool = True) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key, refusing keys that climb out of a prefix.

    :raises ValueError: For anything but a plain ``s3://bucket/key`` (``..`` segments, empty
        segments, backslashes or control characters in the key are refused).
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not _BUCKET_RE.match(bucket):
        raise ValueError(f"{uri!r} does not name a valid S3 bucket")
    if key_required and not key:
        raise ValueError(f"{uri!r} has no object key")
    parts = key.split("/")
    if any(p in (".", "..") for p in parts) or "\\" in key or any(ord(c) < 32 for c in key):
        raise ValueError(f"{uri!r} has an unsafe key (path traversal or control characters)")
    return bucket, key


def s3_hook(aws_conn_id: str | None) -> S3Hook:
    """The amazon provider's S3Hook for a connection."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id)


def presign_get(uri: str, *, aws_conn_id: str | None = "aws_default", expires_in: int = 3600) -> str:
    """A presigned HTTPS GET URL for an S3 object.

    :param uri: ``s3://bucket/key``.
    :param aws_conn_id: The AWS connection (default ``aws_default``).
    :param expires_in: Seconds the URL stays valid (default 3600).
    """
    bucket, key = parse_s3_uri(uri)
    url = s3_hook(aws_conn_id).generate_presigned_url(
        client_method="get_object", params={"Bucket": bucket, "Key": key}, expires_in=expires_in
    )
    if not url:
        raise ValueError(f"could not presign {uri}")
    return url
