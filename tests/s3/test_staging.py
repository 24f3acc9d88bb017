"""StageImageOperator against a moto server: every input kind, the model's rules, fixes, refusals,
content-addressed keys and presigned URLs that really serve the bytes."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from airflow.sdk.exceptions import AirflowFailException
from PIL import Image

from airflow_video_gen.models import InvalidVideoRequest
from airflow_video_gen.operators.staging import StageImageOperator
from tests.imaging import make_image
from tests.s3.conftest import task_context
from tests.s3.servers import FileHost, Served

KLING = "klingai/kling-v2.6-i2v"
SEEDANCE = "bytedance/seedance-v1.0-pro"


def stage(**params: Any) -> dict[str, Any]:
    op = StageImageOperator(task_id="stage", **params)
    result: dict[str, Any] = op.execute(task_context("stage"))
    return result


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def fetched(url: str) -> bytes:
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.content


def check_stored(s3: Any, result: dict[str, Any], data: bytes | None = None) -> bytes:
    """The object and the presigned URL both hold the bytes the XCom describes."""
    bucket, key = result["s3_uri"][len("s3://") :].split("/", 1)
    obj = s3.get_object(Bucket=bucket, Key=key)
    body = obj["Body"].read()
    assert hashlib.sha256(body).hexdigest() == result["sha256"]
    assert len(body) == result["size"]
    assert obj["Metadata"]["sha256"] == result["sha256"]
    assert obj["ContentType"] == result["media_type"]
    assert fetched(result["url"]) == body
    assert (image_of(body).width, image_of(body).height) == (result["width"], result["height"])
    if data is not None:
        assert body == data
    return body


# ----------------------------------------------------------------------------------- input kinds


def test_path_to_content_addressed_key_and_restaging_is_a_no_op(
    s3: Any, bucket: str, tmp_path: Path, png_bytes: bytes
) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(png_bytes)
    result = stage(image=str(path), dest_s3_uri=f"s3://{bucket}/inputs/", model=KLING)
    sha = hashlib.sha256(png_bytes).hexdigest()
    assert result["s3_uri"] == f"s3://{bucket}/inputs/{sha}.png"
    assert set(result) == {"s3_uri", "url", "width", "height", "media_type", "size", "sha256"}
    assert (result["width"], result["height"], result["media_type"]) == (640, 360, "image/png")
    check_stored(s3, result, png_bytes)
    before = s3.head_object(Bucket=bucket, Key=f"inputs/{sha}.png")

    again = stage(image=str(path), dest_s3_uri=f"s3://{bucket}/inputs/", model=KLING)
    after = s3.head_object(Bucket=bucket, Key=f"inputs/{sha}.png")
    assert again["s3_uri"] == result["s3_uri"]
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 1


def test_url_is_downloaded_and_staged(s3: Any, bucket: str, file_host: FileHost, jpeg_bytes: bytes) -> None:
    url = file_host.add("portrait.jpg", Served("image/jpeg", data=jpeg_bytes))
    result = stage(image=url, dest_s3_uri=f"s3://{bucket}/in/", model=SEEDANCE)
    assert result["s3_uri"].endswith(".jpg")
    assert result["media_type"] == "image/jpeg"
    check_stored(s3, result, jpeg_bytes)


def test_a_signed_url_is_fetched_with_its_signature(
    s3: Any, bucket: str, file_host: FileHost, png_bytes: bytes
) -> None:
    served = Served("image/png", data=png_bytes, require_query="X-Amz-Signature=abc123")
    url = file_host.add("signed.png", served) + "?X-Amz-Credential=AKIA&X-Amz-Signature=abc123"
    result = stage(image=url, dest_s3_uri=f"s3://{bucket}/in/", model=KLING)
    check_stored(s3, result, png_bytes)
    with pytest.raises(AirflowFailException, match="answered HTTP 403"):
        stage(image=file_host.url("signed.png"), dest_s3_uri=f"s3://{bucket}/in/")


def test_s3_uri_is_read_and_staged(s3: Any, bucket: str, png_bytes: bytes) -> None:
    s3.put_object(Bucket=bucket, Key="raw/upload.png", Body=png_bytes)
    result = stage(image=f"s3://{bucket}/raw/upload.png", dest_s3_uri=f"s3://{bucket}/staged/", family="wan")
    assert result["s3_uri"].startswith(f"s3://{bucket}/staged/")
    check_stored(s3, result, png_bytes)


def test_bytes_and_base64_text(s3: Any, bucket: str, png_bytes: bytes) -> None:
    from_bytes = stage(image=png_bytes, dest_s3_uri=f"s3://{bucket}/in/", model=KLING)
    check_stored(s3, from_bytes, png_bytes)
    # XCom cannot carry bytes in Airflow 3; base64 text (or a data URL) is what an upstream task returns.
    text = base64.b64encode(png_bytes).decode()
    from_text = stage(image=text, dest_s3_uri=f"s3://{bucket}/in/", model=KLING)
    assert {k: v for k, v in from_text.items() if k != "url"} == {
        k: v for k, v in from_bytes.items() if k != "url"
    }
    data_url = stage(image=f"data:image/png;base64,{text}", dest_s3_uri=f"s3://{bucket}/in/", model=KLING)
    assert data_url["s3_uri"] == from_bytes["s3_uri"]


def test_exact_destination_key_conflicts_unless_overwrite(s3: Any, bucket: str) -> None:
    first, second = make_image(400, 400), make_image(400, 400, color="firebrick")
    dest = f"s3://{bucket}/fixed/start.png"
    assert stage(image=first, dest_s3_uri=dest)["s3_uri"] == dest
    assert stage(image=first, dest_s3_uri=dest)["sha256"] == hashlib.sha256(first).hexdigest()
    with pytest.raises(AirflowFailException, match=r"already exists with different bytes.*overwrite=True"):
        stage(image=second, dest_s3_uri=dest)
    assert s3.get_object(Bucket=bucket, Key="fixed/start.png")["Body"].read() == first
    replaced = stage(image=second, dest_s3_uri=dest, overwrite=True)
    check_stored(s3, replaced, second)


# ----------------------------------------------------------------------------------- the model's rules


def test_kling_refusals_name_the_parameter_model_and_what_is_allowed(bucket: str) -> None:
    webp = make_image(640, 360, fmt="WEBP")
    with pytest.raises(AirflowFailException) as refused:
        stage(image=webp, dest_s3_uri=f"s3://{bucket}/in/", model=KLING)
    message = str(refused.value)
    assert "image=" in message
    assert KLING in message
    assert "WEBP is not accepted" in message
    assert "'JPEG' or 'PNG'" in message
    assert "fix=True" in message

    with pytest.raises(AirflowFailException, match=r"at least 300 px"):
        stage(image=make_image(200, 200), dest_s3_uri=f"s3://{bucket}/in/", family="kling")
    with pytest.raises(AirflowFailException, match=r"aspect ratio 3\.00 .* outside 0\.40 to 2\.50"):
        stage(image=make_image(900, 300), dest_s3_uri=f"s3://{bucket}/in/", model=KLING)
    with pytest.raises(AirflowFailException, match=r"max_side allows 500 px"):
        stage(image=make_image(640, 360), dest_s3_uri=f"s3://{bucket}/in/", max_side=500)


def test_families_without_documented_rules_take_any_decodable_image(s3: Any, bucket: str) -> None:
    webp = make_image(640, 360, fmt="WEBP")
    result = stage(image=webp, dest_s3_uri=f"s3://{bucket}/in/", model=SEEDANCE)
    assert result["media_type"] == "image/webp"
    assert result["s3_uri"].endswith(".webp")
    check_stored(s3, result, webp)


def test_fix_converts_webp_to_png(s3: Any, bucket: str) -> None:
    result = stage(
        image=make_image(640, 360, fmt="WEBP"), dest_s3_uri=f"s3://{bucket}/in/", model=KLING, fix=True
    )
    assert result["fixes"] == ["converted WEBP to PNG"]
    assert result["media_type"] == "image/png"
    assert result["s3_uri"].endswith(".png")
    assert image_of(check_stored(s3, result)).format == "PNG"


def test_fix_pads_a_wide_image_and_upscales_a_small_one(s3: Any, bucket: str) -> None:
    wide = stage(image=make_image(900, 300), dest_s3_uri=f"s3://{bucket}/in/", model=KLING, fix=True)
    assert (wide["width"], wide["height"]) == (900, 360)
    assert wide["fixes"] == ["padded 900x300 to 900x360 (aspect 3.00 -> 2.50)"]
    padded = np.asarray(image_of(check_stored(s3, wide)).convert("RGB"))
    assert padded[:10].max() == 0  # black bars above and below
    assert padded[-10:].max() == 0

    small = stage(image=make_image(200, 150), dest_s3_uri=f"s3://{bucket}/in/", model=KLING, fix=True)
    assert (small["width"], small["height"]) == (400, 300)
    assert small["fixes"] == ["upscaled 200x150 to 400x300"]
    check_stored(s3, small)


def test_fix_brings_an_oversized_png_under_ten_megabytes(s3: Any, bucket: str) -> None:
    noise = np.random.default_rng(7).integers(0, 256, (1800, 2200, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, format="PNG")
    big = out.getvalue()
    assert len(big) > 10 * 1024 * 1024
    with pytest.raises(AirflowFailException, match=r"accepts at most 10,485,760"):
        stage(image=big, dest_s3_uri=f"s3://{bucket}/in/", model=KLING)
    result = stage(image=big, dest_s3_uri=f"s3://{bucket}/in/", model=KLING, fix=True)
    assert result["size"] <= 10 * 1024 * 1024
    assert result["fixes"][0] == "re-encoded PNG as JPEG to fit 10,485,760 bytes"
    assert result["media_type"] == "image/jpeg"
    check_stored(s3, result)


def test_fix_downscales_to_max_side(s3: Any, bucket: str) -> None:
    result = stage(image=make_image(1600, 900), dest_s3_uri=f"s3://{bucket}/in/", max_side=800, fix=True)
    assert (result["width"], result["height"]) == (800, 450)
    assert result["fixes"] == ["downscaled 1600x900 to 800x450"]
    check_stored(s3, result)


# ----------------------------------------------------------------------------------- sanity


def test_a_two_gigabyte_image_is_refused_from_its_content_length(bucket: str, file_host: FileHost) -> None:
    url = file_host.add("huge.png", Served("image/png", head=make_image(), size=2 * 1024**3))
    with pytest.raises(AirflowFailException, match=r"2,147,483,648 bytes \(Content-Length\)"):
        stage(image=url, dest_s3_uri=f"s3://{bucket}/in/")


def test_an_endless_image_without_content_length_is_cut_off_while_reading(
    bucket: str, file_host: FileHost
) -> None:
    url = file_host.add(
        "endless.png", Served("image/png", head=make_image(), size=1024**3, announce_length=False)
    )
    with pytest.raises(AirflowFailException, match=r"sent more than 5,242,880 bytes"):
        stage(image=url, dest_s3_uri=f"s3://{bucket}/in/", max_bytes=5 * 1024 * 1024)


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"this is text, not an image at all", "not a decodable image"),
        (_png_header(100_000, 100_000), "decompression bomb"),
        ("ftp://example.com/cat.png", "URL scheme 'ftp' is not supported"),
        ("s3://no-such-bucket-here/cat.png", "does not exist"),
    ],
)
def test_unusable_inputs_fail_clearly(bucket: str, image: Any, message: str) -> None:
    with pytest.raises(AirflowFailException, match=message) as refused:
        stage(image=image, dest_s3_uri=f"s3://{bucket}/in/", model=KLING)
    assert "StageImageOperator image=" in str(refused.value)


def test_a_missing_url_fails_without_retry(bucket: str, file_host: FileHost) -> None:
    with pytest.raises(AirflowFailException, match="answered HTTP 404"):
        stage(image=file_host.url("nothing-here.png"), dest_s3_uri=f"s3://{bucket}/in/")


def test_bad_parameters_are_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(InvalidVideoRequest, match="klingai/kling-v9 is a kling model, not 'wan'"):
        StageImageOperator(
            task_id="s", image="x.png", dest_s3_uri="s3://bucket/in/", model="klingai/kling-v9", family="wan"
        )
    # A newer id of a known family is staged with that family's image rules.
    StageImageOperator(task_id="s", image="x.png", dest_s3_uri="s3://bucket/in/", model="klingai/kling-v9")
    with pytest.raises(ValueError, match="unknown family 'pika'"):
        StageImageOperator(task_id="s", image="x.png", dest_s3_uri="s3://bucket/in/", family="pika")
    with pytest.raises(ValueError, match="unsafe key"):
        StageImageOperator(task_id="s", image="x.png", dest_s3_uri="s3://bucket/../etc/")
    # Templated values are checked when the task runs.
    StageImageOperator(
        task_id="s", image="{{ params.image }}", dest_s3_uri="{{ params.dest }}", model="{{ m }}"
    )
