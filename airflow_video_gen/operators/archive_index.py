"""The archive's index by request: which archived videos a request already has, in one GET.

:class:`~airflow_video_gen.operators.archive.ArchiveVideoOperator` writes, beside the videos of a
generation, ``<dest_s3_uri><model>/requests/<fingerprint>.json``: its result, keyed by the request's
fingerprint (a sha256 of the model and the request as described, images by source and hash). A
submit task with ``skip_if_archived`` reads that one object; when it is there and every video it
lists is still in S3, the task returns it instead of starting (and paying for) the same video again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_video_gen.utils.s3 import head_object, join_uri, parse_s3_uri, put_bytes, read_object

#: The largest index object read back (a generation's record is a few KiB).
_MAX_INDEX_BYTES = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def key_segment(value: str) -> str:
    """A value made safe as one S3 key segment: ``bytedance/seedance-v1.0-pro`` ->
    ``bytedance-seedance-v1.0-pro``; never empty, ``.`` or ``..``."""
    segment = _UNSAFE.sub("-", value).strip("-.")[:200]
    return segment or "unnamed"


def index_uri(dest_s3_uri: str, model: str, fingerprint: str) -> str:
    """Where the archive under ``dest_s3_uri`` records the videos of a request."""
    return join_uri(dest_s3_uri, key_segment(model), "requests", f"{key_segment(fingerprint)}.json")


def write_index(client: Any, dest_s3_uri: str, fingerprint: str, record: Mapping[str, Any]) -> str:
    """Record an archive result under its request's fingerprint (the newest archive wins).

    :param record: What the archive task returned (``videos``, ``model``, ``idempotency_key``...).
    :return: The index object's URI.
    """
    uri = index_uri(dest_s3_uri, str(record["model"]), fingerprint)
    indexed = {
        **record,
        "fingerprint": fingerprint,
        "indexed_at": datetime.now(tz=timezone.utc).isoformat().replace("+00:00", "Z"),
    }
    data = json.dumps(indexed, sort_keys=True, default=str).encode()
    put_bytes(client, uri, data, content_type="application/json", overwrite=True)
    return uri


def find_archived(
    client: Any, dest_s3_uri: str, model: str, fingerprint: str
) -> tuple[dict[str, Any] | None, str]:
    """The archive record of this request under ``dest_s3_uri``, if its videos are all still there.

    :return: ``(record, why)``: the record, or ``None`` with the reason in a few words (nothing
        archived yet, a video of it deleted since, an unreadable index).
    """
    uri = index_uri(dest_s3_uri, model, fingerprint)
    bucket, key = parse_s3_uri(uri)
    if head_object(client, bucket, key) is None:
        return None, f"no archived video of this request under {dest_s3_uri}"
    try:
        record = json.loads(read_object(client, bucket, key, max_bytes=_MAX_INDEX_BYTES))
    except ValueError as exc:
        return None, f"{uri} is not an archive record ({exc})"
    videos = record.get("videos") if isinstance(record, dict) else None
    if not isinstance(videos, list) or not videos:
        return None, f"{uri} lists no videos"
    for video in videos:
        stored = video.get("s3_uri") if isinstance(video, Mapping) else None
        if stored is None:  # delivered to the team's own destination: nothing of it in S3 to check
            continue
        if head_object(client, *parse_s3_uri(str(stored))) is None:
            return None, f"{stored}, archived for this request, is no longer in S3"
    return record, f"archived at {record.get('indexed_at')}"
