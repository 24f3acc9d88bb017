"""The pieces under the operators: S3 addressing, streamed uploads that never leave half objects,
ranged reads that PyAV decodes from, and contact sheets."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from tests.s3.conftest import recorded_sha256
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
    assert recorded_sha256(s3, bucket, "v.bin") == stored.sha256
    assert head["ContentType"] == "video/mp4"
    assert head["ETag"] == stored.etag
    attributes = s3.get_object_attributes(Bucket=bucket, Key="v.bin", ObjectAttributes=["Checksum"])
    assert attributes["Checksum"]["ChecksumType"] == "COMPOSITE"
    assert attributes["Checksum"]["ChecksumCRC32"]

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


@contextmanager
def s3_calls(client: Any) -> Iterator[list[str]]:
    """The S3 operations ``client`` calls meanwhile, in order (botocore's own events)."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    client.meta.events.register("before-call.s3", record, unique_id="test-s3-calls")
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.s3", unique_id="test-s3-calls")


def test_parts_are_sent_concurrently_up_to_max_concurrency_and_stored_in_order(s3: Any, bucket: str) -> None:
    sending, most = 0, 0
    lock = threading.Lock()

    def started(params: Any, **_: Any) -> None:
        nonlocal sending, most
        with lock:
            sending += 1
            most = max(most, sending)
        time.sleep(0.2)  # long enough for the next parts to start meanwhile

    def ended(**_: Any) -> None:
        nonlocal sending
        with lock:
            sending -= 1

    s3.meta.events.register("before-call.s3.UploadPart", started, unique_id="test-started")
    s3.meta.events.register("after-call.s3.UploadPart", ended, unique_id="test-ended")
    total = 7 * MIN_PART_SIZE + 1
    try:
        for concurrency in (3, 1):
            most = 0
            with s3_calls(s3) as calls:
                stored = upload_stream(
                    s3,
                    f"s3://{bucket}/c{concurrency}.bin",
                    _chunks(total),
                    content_type="video/mp4",
                    part_size=MIN_PART_SIZE,
                    max_concurrency=concurrency,
                )
            assert most == concurrency
            # No server-side copy: the upload, its check, and the tags.
            assert calls == [
                "CreateMultipartUpload",
                *["UploadPart"] * 8,
                "CompleteMultipartUpload",
                "HeadObject",
                "PutObjectTagging",
            ]
            body = s3.get_object(Bucket=bucket, Key=f"c{concurrency}.bin")["Body"].read()
            assert body == b"".join(_chunks(total))
            assert stored.sha256 == hashlib.sha256(body).hexdigest()
    finally:
        s3.meta.events.unregister("before-call.s3.UploadPart", unique_id="test-started")
        s3.meta.events.unregister("after-call.s3.UploadPart", unique_id="test-ended")
    with pytest.raises(
        ValueError, match=r"max_concurrency \(parts uploaded at once\) must be an int from 1 to 16"
    ):
        upload_stream(s3, f"s3://{bucket}/x.bin", _chunks(1), content_type="video/mp4", max_concurrency=0)


def test_a_failed_part_aborts_the_upload_once_the_parts_in_flight_have_ended(s3: Any, bucket: str) -> None:
    events: list[str] = []

    def part(params: Any, **_: Any) -> None:
        if params["PartNumber"] == 3:
            raise ConnectionResetError("S3 went away")
        events.append("part started")
        time.sleep(0.2)

    def record(event_name: str, **_: Any) -> None:
        events.append(event_name)

    hooks: list[tuple[str, Callable[..., None]]] = [
        ("before-parameter-build.s3.UploadPart", part),
        ("after-call.s3.UploadPart", record),
        ("before-call.s3.AbortMultipartUpload", record),
    ]
    for name, handler in hooks:
        s3.meta.events.register(name, handler, unique_id=f"test-{name}")
    try:
        with pytest.raises(ConnectionResetError, match="S3 went away"):
            upload_stream(
                s3,
                f"s3://{bucket}/failed.bin",
                _chunks(8 * MIN_PART_SIZE),
                content_type="video/mp4",
                part_size=MIN_PART_SIZE,
                max_concurrency=4,
            )
    finally:
        for name, _handler in hooks:
            s3.meta.events.unregister(name, unique_id=f"test-{name}")
    started = events.count("part started")
    assert started >= 2  # parts 1, 2 (and 4, 5 when read before part 3 failed) were in flight
    # Every part in flight ended before the abort, so none can land after it.
    assert events[-1] == "before-call.s3.AbortMultipartUpload"
    assert events.count("after-call.s3.UploadPart") == started
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_the_stored_sha256_is_read_from_tags_or_old_metadata_and_a_stale_tag_is_not_trusted(
    s3: Any, bucket: str
) -> None:
    data = b"".join(_chunks(MIB))
    sha = hashlib.sha256(data).hexdigest()

    class Source:
        def __init__(self, payload: bytes) -> None:
            self.payload = payload

        def __enter__(self) -> Iterator[bytes]:
            return iter([self.payload])

        def __exit__(self, *exc: object) -> None:
            pass

    # Stored by this version: the tags give the sha256; the stored bytes are not read again.
    store_stream(s3, f"s3://{bucket}/new.mp4", lambda: Source(data), content_type="video/mp4")
    with s3_calls(s3) as calls:
        again = store_stream(s3, f"s3://{bucket}/new.mp4", lambda: Source(data), content_type="video/mp4")
    assert (again.outcome, again.sha256) == ("unchanged", sha)
    assert calls == ["HeadObject", "GetObjectTagging"]

    # Stored by earlier versions: the sha256 in the object's metadata still counts.
    s3.put_object(Bucket=bucket, Key="old.mp4", Body=data, Metadata={"sha256": sha})
    with s3_calls(s3) as calls:
        again = store_stream(s3, f"s3://{bucket}/old.mp4", lambda: Source(data), content_type="video/mp4")
    assert (again.outcome, calls) == ("unchanged", ["HeadObject"])
    with pytest.raises(S3ConflictError, match="different bytes"):
        store_stream(s3, f"s3://{bucket}/old.mp4", lambda: Source(data[:-1]), content_type="video/mp4")

    # Tags that name another ETag (the object was replaced after they were written) are ignored:
    # the stored bytes are hashed, and the conflict is seen.
    tags = s3.get_object_tagging(Bucket=bucket, Key="new.mp4")["TagSet"]
    s3.put_object(Bucket=bucket, Key="new.mp4", Body=data[:-1])
    s3.put_object_tagging(Bucket=bucket, Key="new.mp4", Tagging={"TagSet": tags})
    with s3_calls(s3) as calls, pytest.raises(S3ConflictError, match="different bytes"):
        store_stream(s3, f"s3://{bucket}/new.mp4", lambda: Source(data), content_type="video/mp4")
    assert calls == ["HeadObject", "GetObjectTagging", "GetObject"]


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


def test_the_first_part_of_an_upload_is_read_back_from_memory(s3: Any, bucket: str) -> None:
    """The archive probes a video it has just uploaded: what lies in its first part makes no GET."""
    head = make_mp4(seconds=2.0)
    stored = upload_stream(
        s3, f"s3://{bucket}/fresh.mp4", padded_stream(head, 12 * MIB), content_type="video/mp4"
    )
    assert stored.start == b"".join(padded_stream(head, 12 * MIB))[: 8 * MIB]
    with s3_calls(s3) as calls:
        reader = S3ObjectReader(s3, stored.uri, start=stored.start)
        sheet, probe = contact_sheet(reader, tiles=4)
    assert (probe.width, probe.height, probe.frames) == (320, 180, 48)
    assert Image.open(io.BytesIO(sheet)).format == "PNG"
    assert calls == ["HeadObject"]
    # Beyond the first part, the object is read from S3, byte for byte.
    reader.seek(8 * MIB - 3)
    kept = reader.read(6)
    assert len(kept) == 3
    assert reader.requests == 0
    assert kept + reader.read(3) == b"".join(padded_stream(head, 12 * MIB))[8 * MIB - 3 : 8 * MIB + 3]
    assert reader.requests == 1
