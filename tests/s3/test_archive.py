"""ArchiveVideoOperator against the emulator and a moto server: URL and base64 results, what is
stored (video, sidecar, contact sheet, last frame), re-runs, conflicts and failed downloads."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
from airflow.sdk import AssetAlias
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from PIL import Image

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.operators.archive import ArchiveVideoOperator
from tests.imaging import make_image
from tests.s3.conftest import Generate, recorded_sha256, task_context
from tests.s3.servers import FileHost, Served, make_mp4

pytestmark = pytest.mark.slow

VEO = "google/veo-3.1-fast-generate-001"
SEEDANCE = "bytedance/seedance-v1.0-pro"


def archive(
    generation: dict[str, Any], dest: str, context: dict[str, Any] | None = None, **params: Any
) -> Any:
    op = ArchiveVideoOperator(task_id="archive", generation=generation, dest_s3_uri=dest, **params)
    return op.execute(context if context is not None else task_context("archive"))


def split(uri: str) -> tuple[str, str]:
    bucket, key = uri[len("s3://") :].split("/", 1)
    return bucket, key


def read(s3: Any, uri: str) -> bytes:
    bucket, key = split(uri)
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def stamp(s3: Any, uri: str) -> tuple[str, Any]:
    bucket, key = split(uri)
    head = s3.head_object(Bucket=bucket, Key=key)
    return head["ETag"], head["LastModified"]


def nothing_pending(s3: Any, bucket: str) -> bool:
    return not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def check_archived(s3: Any, entry: dict[str, Any], decode_mp4: Any, seconds: float) -> dict[str, Any]:
    """Video, sidecar and contact sheet as stored; returns the sidecar."""
    data = read(s3, entry["s3_uri"])
    sha = hashlib.sha256(data).hexdigest()
    assert (len(data), sha) == (entry["size"], entry["sha256"])
    bucket, key = split(entry["s3_uri"])
    assert recorded_sha256(s3, bucket, key) == sha
    video = decode_mp4(data)
    assert abs(video.duration - seconds) <= 1 / 24 + 1e-6
    assert video.fps == 24
    sidecar = json.loads(read(s3, entry["sidecar_s3_uri"]))
    assert sidecar["video"]["sha256"] == sha
    assert sidecar["video"]["size"] == len(data)
    assert sidecar["video"]["duration_s"] == pytest.approx(seconds, abs=0.05)
    assert sidecar["video"]["fps"] == 24
    sheet = Image.open(io.BytesIO(read(s3, entry["contact_sheet_s3_uri"])))
    assert sheet.format == "PNG"
    sheet.load()
    assert sheet.width >= 320
    assert sidecar["contact_sheet_s3_uri"] == entry["contact_sheet_s3_uri"]
    return sidecar


def test_url_results_are_archived_with_provenance_and_reruns_are_no_ops(
    emulator: EmulatorProcess, generate: Generate, s3: Any, bucket: str, decode_mp4: Any
) -> None:
    generation = generate(VEO, image=make_image(), text="Slow pan", duration=4, seed=3)
    assert generation["videos"][0]["type"] == "url"
    context = task_context("archive")
    result = archive(generation, f"s3://{bucket}/videos/", context)
    assert set(result) == {"videos", "model", "idempotency_key", "aws_conn_id"}
    assert result["aws_conn_id"] == "aws_default"
    assert len(json.dumps(result)) < 2048
    (entry,) = result["videos"]
    key = generation["idempotency_key"]
    base = f"s3://{bucket}/videos/google-veo-3.1-fast-generate-001/{key}/"
    assert entry["s3_uri"] == base + "video-0.mp4"
    assert entry["sidecar_s3_uri"] == base + "video-0.json"
    assert entry["contact_sheet_s3_uri"] == base + "video-0-contact.png"
    assert entry["media_type"] == "video/mp4"

    sidecar = check_archived(s3, entry, decode_mp4, 4)
    assert sidecar["model"] == VEO
    assert sidecar["prompt"] == "Slow pan"
    assert sidecar["request"]["duration"] == 4
    assert sidecar["request"]["seed"] == 3
    assert "data" not in json.dumps(sidecar["request"])
    assert sidecar["operation"] == generation["operation"]
    assert sidecar["idempotency_key"] == key
    assert sidecar["submitted_at"] < sidecar["completed_at"] <= sidecar["archived_at"]
    assert sidecar["sources"] == [{"param": "prompt.image", **generation["request"]["prompt"]["image"]}]
    assert sidecar["provider_metadata"]["gateway"]["asyncJob"]["status"] == "completed"
    assert sidecar["video"]["source"].startswith(emulator.root_url + "/files/")
    assert sidecar["airflow"]["task_id"] == "archive"

    # One asset event per video, through the alias.
    (alias_event,) = context["outlet_events"][AssetAlias("ai_gateway_videos")].asset_alias_events
    assert alias_event.dest_asset_key.name == "ai_gateway_videos"
    assert alias_event.extra["s3_uri"] == entry["s3_uri"]
    assert alias_event.extra["sha256"] == entry["sha256"]

    # Re-running stores nothing: every object keeps its ETag and LastModified.
    uris = [entry["s3_uri"], entry["sidecar_s3_uri"], entry["contact_sheet_s3_uri"]]
    before = [stamp(s3, u) for u in uris]
    assert archive(generation, f"s3://{bucket}/videos/") == result
    assert [stamp(s3, u) for u in uris] == before
    assert nothing_pending(s3, bucket)


def test_different_bytes_under_the_same_generation_fail_unless_overwrite(
    emulator: EmulatorProcess, generate: Generate, s3: Any, bucket: str, file_host: FileHost, decode_mp4: Any
) -> None:
    generation = generate(VEO, image=make_image(), text="Slow pan", duration=4)
    first = archive(generation, f"s3://{bucket}/v/")["videos"][0]
    other = make_mp4(seconds=2.0)
    changed = {
        **generation,
        "videos": [
            {"type": "url", "url": file_host.add("other.mp4", Served(data=other)), "mediaType": "video/mp4"}
        ],
    }
    with pytest.raises(AirflowFailException, match=r"already exists with different bytes.*overwrite=True"):
        archive(changed, f"s3://{bucket}/v/")
    assert read(s3, first["s3_uri"]) != other
    assert hashlib.sha256(read(s3, first["s3_uri"])).hexdigest() == first["sha256"]
    assert nothing_pending(s3, bucket)

    replaced = archive(changed, f"s3://{bucket}/v/", overwrite=True)["videos"][0]
    assert replaced["s3_uri"] == first["s3_uri"]
    assert read(s3, replaced["s3_uri"]) == other
    sidecar = check_archived(s3, replaced, decode_mp4, 2.0)
    assert sidecar["video"]["sha256"] == hashlib.sha256(other).hexdigest()
    assert nothing_pending(s3, bucket)


def test_base64_results_are_read_again_from_the_status(
    emulator_base64: EmulatorProcess, generate: Generate, s3: Any, bucket: str, decode_mp4: Any
) -> None:
    generation = generate(
        VEO, gateway_conn_id="ai_gateway_base64", image=make_image(), text="pan", duration=4, n=2
    )
    assert [v["type"] for v in generation["videos"]] == ["base64", "base64"]
    assert "data" not in json.dumps(generation["videos"])
    result = archive(generation, f"s3://{bucket}/b64/", gateway_conn_id="ai_gateway_base64")
    assert [v["s3_uri"].rsplit("/", 1)[1] for v in result["videos"]] == ["video-0.mp4", "video-1.mp4"]
    for entry in result["videos"]:
        sidecar = check_archived(s3, entry, decode_mp4, 4)
        assert sidecar["video"]["source"] == "inline base64"
    assert nothing_pending(s3, bucket)


def test_seedance_last_frame_is_archived_from_base64(
    emulator_base64: EmulatorProcess, generate: Generate, s3: Any, bucket: str, image_host: Any
) -> None:
    generation = generate(
        SEEDANCE,
        gateway_conn_id="ai_gateway_base64",
        image=image_host.url("landscape.png"),
        text="The sun sets",
        duration=3,
        provider_options={"bytedance": {"returnLastFrame": True}},
    )
    result = archive(generation, f"s3://{bucket}/sd/", gateway_conn_id="ai_gateway_base64")
    assert result["last_frame_s3_uri"].endswith(f"/{generation['idempotency_key']}/last-frame.png")
    frame = Image.open(io.BytesIO(read(s3, result["last_frame_s3_uri"])))
    assert frame.format == "PNG"
    sidecar = json.loads(read(s3, result["videos"][0]["sidecar_s3_uri"]))
    assert sidecar["last_frame_s3_uri"] == result["last_frame_s3_uri"]
    last = sidecar["provider_metadata"]["bytedance"]["lastFrame"]
    assert last["type"] == "base64"
    assert "data" not in last  # the image itself is in S3, not in the sidecar
    assert last["size"] > 0


def test_a_download_cut_half_way_leaves_no_object_and_no_pending_upload(
    emulator: EmulatorProcess, generate: Generate, s3: Any, bucket: str, file_host: FileHost
) -> None:
    generation = generate(VEO, image=make_image(), text="pan", duration=4)
    size = 40 * 1024 * 1024
    url = file_host.add("cut.mp4", Served(head=make_mp4(), size=size, cut_at=size // 2))
    cut = {**generation, "videos": [{"type": "url", "url": url, "mediaType": "video/mp4"}]}
    with pytest.raises(AirflowException, match=r"that was the last try \(retries=0\)") as failed:
        archive(cut, f"s3://{bucket}/cut/")
    assert not isinstance(failed.value, AirflowFailException)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert nothing_pending(s3, bucket)


def test_a_download_cut_once_is_started_again_and_stored_whole(
    emulator: EmulatorProcess,
    generate: Generate,
    s3: Any,
    bucket: str,
    file_host: FileHost,
) -> None:
    generation = generate(VEO, image=make_image(), text="pan", duration=4)
    size = 12 * 1024 * 1024
    served = Served(head=make_mp4(), size=size, cut_at=7 * 1024 * 1024, cut_times=1)
    url = file_host.add("cut-once.mp4", served)
    cut = {**generation, "videos": [{"type": "url", "url": url, "mediaType": "video/mp4"}]}
    result = archive(cut, f"s3://{bucket}/cut-once/", part_size=5 * 1024 * 1024)
    (video,) = result["videos"]
    assert video["size"] == size
    assert read(s3, video["s3_uri"]) == b"".join(served.chunks())
    assert served.cut_times == -1  # downloaded twice: cut once, then whole
    assert nothing_pending(s3, bucket)


def test_too_large_and_expired_videos_fail_without_retry(
    emulator: EmulatorProcess, generate: Generate, s3: Any, bucket: str, file_host: FileHost
) -> None:
    generation = generate(VEO, image=make_image(), text="pan", duration=4)
    big = {
        **generation,
        "videos": [
            {
                "type": "url",
                "mediaType": "video/mp4",
                "url": file_host.add("big.mp4", Served(head=make_mp4(), size=64 * 1024**2)),
            }
        ],
    }
    with pytest.raises(AirflowFailException, match=r"max_video_bytes.*cap is 33,554,432"):
        archive(big, f"s3://{bucket}/big/", max_video_bytes=32 * 1024**2)
    gone = {
        **generation,
        "videos": [{"type": "url", "url": file_host.url("expired.mp4"), "mediaType": "video/mp4"}],
    }
    # An expired link is asked for again from the status, whose link works (more in test_result_kinds.py).
    (renewed,) = archive(gone, f"s3://{bucket}/gone/")["videos"]
    assert renewed["size"] == len(read(s3, renewed["s3_uri"]))
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="big/")
    assert nothing_pending(s3, bucket)


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="must end with '/'"):
        ArchiveVideoOperator(task_id="a", generation={}, dest_s3_uri="s3://bucket/videos")
    with pytest.raises(ValueError, match="part_size must be"):
        ArchiveVideoOperator(task_id="a", generation={}, dest_s3_uri="s3://bucket/v/", part_size=1024)
    with pytest.raises(
        ValueError, match=r"max_concurrency \(parts uploaded at once\) must be an int from 1 to 16, got 0"
    ):
        ArchiveVideoOperator(task_id="a", generation={}, dest_s3_uri="s3://bucket/v/", max_concurrency=0)
    with pytest.raises(AirflowFailException, match="XCom of a generation sensor"):
        archive({"status": "completed"}, "s3://bucket/v/")
    with pytest.raises(AirflowFailException, match="not 'completed'"):
        archive({"model": VEO, "operation": {}, "videos": [], "status": "error"}, "s3://bucket/v/")
