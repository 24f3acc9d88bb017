"""The pieces under the operators: S3 addressing, streamed uploads that never leave half objects,
ranged reads that PyAV decodes from, and contact sheets."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from airflow_video_gen.operators.archive import key_segment
from airflow_video_gen.utils.media import KEYFRAMES_ONLY_ABOVE, VideoReadError, contact_sheet, probe_video
from airflow_video_gen.utils.redaction import redact_url
from airflow_video_gen.utils.s3 import (
    MIN_PART_SIZE,
    S3ConflictError,
    S3ObjectReader,
    join_uri,
    store_stream,
    upload_stream,
)
from tests.s3.servers import make_mp4, padded_stream

MIB = 1024 * 1024


def test_keys_cannot_climb_out_of_their_prefix() -> None:
    assert (
        join_uri("s3://bucket/videos/", "model", "key", "video-0.mp4")
        == "s3://bucket/videos/model/key/video-0.mp4"
    )
    assert join_uri("s3://bucket/", "a.png") == "s3://bucket/a.png"
    for bad in (("..", "x"), ("a/../../x",), (".", "x")):
        with pytest.raises(ValueError, match="unsafe key"):
            join_uri("s3://bucket/videos/", *bad)
    with pytest.raises(ValueError, match="must end with '/'"):
        join_uri("s3://bucket/videos", "x")
    assert key_segment("bytedance/seedance-v1.0-pro") == "bytedance-seedance-v1.0-pro"
    assert key_segment("../..") == "unnamed"
    assert key_segment("a/../b") == "a-..-b"


def test_presigned_urls_are_logged_without_their_signature() -> None:
    url = "https://bucket.s3.amazonaws.com/in/x.png?X-Amz-Credential=AKIA&X-Amz-Signature=abcdef"
    assert redact_url(url) == "https://bucket.s3.amazonaws.com/in/x.png?..."
    assert redact_url("http://127.0.0.1:9000/files/a.mp4") == "http://127.0.0.1:9000/files/a.mp4"
    assert "AKIA" not in redact_url(url)


def _chunks(total: int, fail_after: int | None = None) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        if fail_after is not None and sent >= fail_after:
            raise ConnectionResetError("the source went away")
        block = bytes([sent // MIB % 251]) * min(MIB, total - sent)
        sent += len(block)
        yield block


def test_upload_stream_in_parts_and_abort_on_any_error(s3: Any, bucket: str) -> None:
    total = 2 * MIN_PART_SIZE + 123
    stored = upload_stream(s3, f"s3://{bucket}/v.bin", _chunks(total), content_type="video/mp4")
    body = s3.get_object(Bucket=bucket, Key="v.bin")["Body"].read()
    assert (stored.size, stored.sha256) == (total, hashlib.sha256(body).hexdigest())
    assert len(body) == total
    head = s3.head_object(Bucket=bucket, Key="v.bin")
    assert head["Metadata"]["sha256"] == stored.sha256
    assert head["ContentType"] == "video/mp4"

    with pytest.raises(ConnectionResetError):
        upload_stream(
            s3,
            f"s3://{bucket}/broken.bin",
            _chunks(total, fail_after=MIN_PART_SIZE + MIB),
            content_type="video/mp4",
        )

    def interrupted() -> Iterator[bytes]:
        yield from _chunks(MIN_PART_SIZE + MIB)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # an interrupted task aborts too
        upload_stream(s3, f"s3://{bucket}/broken.bin", interrupted(), content_type="video/mp4")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["v.bin"]
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_store_stream_leaves_same_bytes_alone_and_refuses_different_ones(s3: Any, bucket: str) -> None:
    uri = f"s3://{bucket}/same.bin"
    opened: list[int] = []

    class Source:
        def __init__(self, total: int) -> None:
            self.total = total

        def __enter__(self) -> Iterator[bytes]:
            opened.append(self.total)
            return _chunks(self.total)

        def __exit__(self, *exc: object) -> None:
            pass

    first = store_stream(s3, uri, lambda: Source(MIB), content_type="video/mp4")
    assert first.outcome == "created"
    etag = s3.head_object(Bucket=bucket, Key="same.bin")["ETag"]
    assert store_stream(s3, uri, lambda: Source(MIB), content_type="video/mp4").outcome == "unchanged"
    assert (
        store_stream(s3, uri, lambda: Source(MIB), content_type="video/mp4", overwrite=True).outcome
        == "unchanged"
    )
    assert s3.head_object(Bucket=bucket, Key="same.bin")["ETag"] == etag
    with pytest.raises(S3ConflictError, match="different bytes"):
        store_stream(s3, uri, lambda: Source(2 * MIB), content_type="video/mp4")
    replaced = store_stream(s3, uri, lambda: Source(2 * MIB), content_type="video/mp4", overwrite=True)
    assert (replaced.outcome, replaced.size) == ("replaced", 2 * MIB)
    assert opened == [MIB, MIB, MIB, 2 * MIB, 2 * MIB]  # each call reads its source once
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_pyav_decodes_from_ranged_reads_without_reading_the_padding(s3: Any, bucket: str) -> None:
    head = make_mp4(seconds=2.0)
    s3.put_object(Bucket=bucket, Key="padded.mp4", Body=b"".join(padded_stream(head, 64 * MIB)))
    reader = S3ObjectReader(s3, f"s3://{bucket}/padded.mp4", block_size=256 * 1024)
    sheet, probe = contact_sheet(reader, tiles=6, columns=3, tile_width=160)
    assert (probe.width, probe.height, probe.fps, probe.frames) == (320, 180, 24.0, 48)
    assert probe.duration_s == pytest.approx(2.0, abs=0.05)
    assert reader.requests <= 4  # the 64 MiB of padding is skipped, not read
    image = Image.open(io.BytesIO(sheet))
    assert image.format == "PNG"
    assert image.width == 3 * 160
    # Each tile shows the frame at its time: frame k of make_mp4 is grey (40 + 5k) % 255.
    grey = np.asarray(image.convert("L"), dtype=float)
    for i, frame in enumerate((4, 12, 20, 28, 36, 44)):
        row, col = divmod(i, 3)
        tile = grey[row * 108 : row * 108 + 90, col * 160 : (col + 1) * 160]
        assert abs(np.median(tile) - (40 + 5 * frame) % 255) <= 6, (i, np.median(tile))


def test_long_videos_are_sampled_from_keyframes() -> None:
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("h264", rate=24, options={"g": "48"})
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        for i in range(KEYFRAMES_ONLY_ABOVE + 240):
            frame = np.full((36, 64, 3), i % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    sheet, probe = contact_sheet(io.BytesIO(out.getvalue()), tiles=8, tile_width=64)
    assert probe.frames == KEYFRAMES_ONLY_ABOVE + 240
    assert Image.open(io.BytesIO(sheet)).size == (4 * 64, 2 * (36 + 18))


def test_what_is_not_a_video_is_refused() -> None:
    with pytest.raises(VideoReadError):
        probe_video(io.BytesIO(b"not a video at all" * 100))
    with pytest.raises(VideoReadError):
        contact_sheet(io.BytesIO(b"\x00" * 4096))
