"""JoinVideosOperator: clips stored in S3, joined end to end into one MP4 in S3 without re-encoding.

Made for chained generations (a Seedance clip starting from the previous clip's last frame): the
clips of one model and one request shape share their codec parameters, so their packets can be
copied one after the other (:func:`~airflow_video_gen.utils.media.concat_mp4`).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from boto3.exceptions import S3TransferFailedError
from botocore.exceptions import BotoCoreError, ClientError

from airflow_video_gen.failures import retry_note, s3_failure
from airflow_video_gen.hooks.gateway import DEFAULT_MAX_VIDEO_BYTES
from airflow_video_gen.operators.lineage import LineageMixin, object_named
from airflow_video_gen.utils.media import ConcatError, VideoReadError, concat_mp4
from airflow_video_gen.utils.s3 import (
    DEFAULT_PART_SIZE,
    S3ConflictError,
    StoreResult,
    check_part_size,
    head_object,
    is_prefix,
    join_uri,
    parse_s3_uri,
    s3_hook,
    store_stream,
)

_CHUNK = 1024 * 1024


def clip_uris(videos: Any) -> list[str]:
    """The ``s3://`` URIs of the clips, in order, from the forms ``videos`` takes.

    :param videos: A list of ``s3://`` URIs, ``{"s3_uri": ...}`` dicts, or
        :class:`~airflow_video_gen.operators.archive.ArchiveVideoOperator` results
        (``{"videos": [{"s3_uri": ...}, ...]}``, whose videos are taken in order); or one such
        result alone (a generation of ``n`` videos).
    :raises ValueError: For anything else, or no clip at all.
    """
    if isinstance(videos, Mapping) and isinstance(videos.get("videos"), list):
        videos = [videos]  # one archive result: its videos, in order
    if isinstance(videos, (str, bytes)) or not isinstance(videos, Sequence):
        raise ValueError(f"videos must be a list of clips, got {type(videos).__name__}")
    uris: list[str] = []
    for position, item in enumerate(videos):
        if isinstance(item, Mapping) and isinstance(item.get("videos"), list):
            uris.extend(clip_uris(item["videos"]))
            continue
        uri = item.get("s3_uri") if isinstance(item, Mapping) else item
        if isinstance(item, Mapping) and item.get("delivered_elsewhere"):
            raise ValueError(
                f"videos[{position}] was delivered to the team's upload destination, not archived to "
                "S3: there is no clip to join"
            )
        if not isinstance(uri, str):
            raise ValueError(
                f"videos[{position}] is {type(item).__name__}; expected an s3:// URI, a dict with "
                "'s3_uri' or the result of ArchiveVideoOperator"
            )
        parse_s3_uri(uri)
        uris.append(uri)
    if not uris:
        raise ValueError("videos names no clip")
    return uris


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _file_chunks(path: Path) -> Iterator[Iterator[bytes]]:
    with path.open("rb") as file:
        yield iter(lambda: file.read(_CHUNK), b"")


class JoinVideosOperator(LineageMixin, BaseOperator):
    """Joins videos stored in S3 end to end into one MP4, stored in S3.

    Each clip is streamed from S3 into a temporary directory of the worker (never whole in memory),
    the clips are remuxed into one MP4 without re-encoding, and the result is streamed back with a
    multipart upload, its sha256 in the object's metadata. The worker needs free disk space for
    about twice the clips' total size while the task runs.

    The clips must share their streams and codec parameters (codec, profile, size, pixel format,
    frame rate, sample rate, codec configuration), as the clips of one model and one request shape
    do; otherwise the task fails, naming the first difference, and no retry is made.

    Re-running is safe: an object that already holds the same bytes is left alone; different bytes
    fail the task unless ``overwrite``.

    Returns ``{"s3_uri", "size", "sha256", "duration_s"}``.

    :param videos: The clips in playing order: a list of ``s3://`` URIs, ``{"s3_uri": ...}``
        dicts, or XComs of :class:`~airflow_video_gen.operators.archive.ArchiveVideoOperator`
        (``archive.output``), whose videos are taken in order; or one archive XCom alone.
        Templated.
    :param dest_s3_uri: A full object URI (``s3://bucket/films/joined.mp4``) or a prefix ending in
        ``/`` (the key is then ``<prefix>joined-<sha256>.mp4``, named by its bytes). Templated.
    :param overwrite: Replace an object at ``dest_s3_uri`` that holds different bytes (default
        ``False``: the task fails instead).
    :param max_video_bytes: Refuse clips larger than this (default 4 GiB).
    :param part_size: Bytes per multipart part, the memory held by the upload (default 8 MiB; at
        least 5 MiB).
    :param aws_conn_id: The AWS connection (default ``aws_default``). Templated.
    """

    template_fields: Sequence[str] = ("videos", "dest_s3_uri", "aws_conn_id")
    template_fields_renderers = {"videos": "json"}
    ui_color = "#efe3ff"

    def __init__(
        self,
        *,
        videos: Any,
        dest_s3_uri: str,
        overwrite: bool = False,
        max_video_bytes: int = DEFAULT_MAX_VIDEO_BYTES,
        part_size: int = DEFAULT_PART_SIZE,
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_part_size(part_size, max_video_bytes)
        if isinstance(dest_s3_uri, str) and "{{" not in dest_s3_uri:
            parse_s3_uri(dest_s3_uri, key_required=False)
        self.videos = videos
        self.dest_s3_uri = dest_s3_uri
        self.overwrite = overwrite
        self.max_video_bytes = max_video_bytes
        self.part_size = part_size
        self.aws_conn_id = aws_conn_id

    def lineage_at_start(self) -> tuple[list[str], list[str]]:
        """The clips ``videos`` names, and ``dest_s3_uri`` when it names the object."""
        try:
            inputs = clip_uris(self.videos)
        except ValueError:
            inputs = []  # refused with its message when the task runs
        return inputs, object_named(self.dest_s3_uri)

    def execute(self, context: Any) -> dict[str, Any]:
        try:
            uris = clip_uris(self.videos)
            parse_s3_uri(str(self.dest_s3_uri), key_required=False)
        except ValueError as exc:
            raise AirflowFailException(f"{type(self).__name__}: {exc}") from exc
        self.record_lineage(inputs=uris)
        client = s3_hook(self.aws_conn_id).get_conn()
        with tempfile.TemporaryDirectory(prefix="avg-join-") as tmp:
            folder = Path(tmp)
            clips = [self._download(client, uri, folder / f"clip-{i}.mp4") for i, uri in enumerate(uris)]
            joined = folder / "joined.mp4"
            try:
                probe = concat_mp4(clips, joined)
            except (ConcatError, VideoReadError) as exc:
                raise AirflowFailException(
                    f"{type(self).__name__} cannot join {len(uris)} clips: {exc}"
                ) from exc
            self.log.info(
                "Joined %d clips: %.3f s, %dx%d at %g fps, %s",
                len(uris),
                probe.duration_s,
                probe.width,
                probe.height,
                probe.fps,
                "with audio" if probe.has_audio else "no audio",
            )
            dest = str(self.dest_s3_uri)
            uri = join_uri(dest, f"joined-{file_sha256(joined)}.mp4") if is_prefix(dest) else dest
            stored = self._store(client, uri, joined)
        self.record_lineage(outputs=[uri])
        self.log.info("%s: %s (%d bytes, sha256 %s)", uri, stored.outcome, stored.size, stored.sha256)
        return {"s3_uri": uri, "size": stored.size, "sha256": stored.sha256, "duration_s": probe.duration_s}

    def _download(self, client: Any, uri: str, path: Path) -> Path:
        """One clip from S3 to a local file (boto3's managed transfer: streamed, in parallel parts)."""
        bucket, key = parse_s3_uri(uri)
        try:
            head = head_object(client, bucket, key)
            if head is None:
                raise AirflowFailException(f"{type(self).__name__}: clip {uri} does not exist")
            size = int(head.get("ContentLength") or 0)
            if size > self.max_video_bytes:
                raise AirflowFailException(
                    f"{type(self).__name__} max_video_bytes: clip {uri} is {size:,} bytes; "
                    f"at most {self.max_video_bytes:,} are accepted"
                )
            client.download_file(bucket, key, str(path))
        except (ClientError, BotoCoreError) as exc:
            raise s3_failure(self, None, exc, param="videos", uri=uri) from exc
        except S3TransferFailedError as exc:
            raise AirflowException(f"Could not read clip {uri}: {exc}; {retry_note(self)}") from exc
        self.log.info("Clip %s (%d bytes)", uri, size)
        return path

    def _store(self, client: Any, uri: str, path: Path) -> StoreResult:
        try:
            return store_stream(
                client,
                uri,
                lambda: _file_chunks(path),
                content_type="video/mp4",
                overwrite=self.overwrite,
                part_size=self.part_size,
            )
        except S3ConflictError as exc:
            raise AirflowFailException(f"{type(self).__name__}: {exc}") from exc
        except (ClientError, BotoCoreError) as exc:
            raise s3_failure(self, None, exc, param="dest_s3_uri", uri=uri) from exc
