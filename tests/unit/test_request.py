"""VideoRequest: every image form, the wire body, the XCom description and the fingerprint."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from airflow_video_gen.models import InvalidVideoRequest, VideoRequest
from tests.imaging import make_image

KLING = "klingai/kling-v2.6-i2v"
SEEDANCE = "bytedance/seedance-v1.0-lite-i2v"


def kling(image: object, **opts: object) -> VideoRequest:
    call: dict[str, object] = {"prompt": {"image": image, "text": "go"}}
    if opts:
        call["providerOptions"] = {"klingai": opts}
    return VideoRequest.from_sdk_call(KLING, call)


def test_image_forms_all_end_as_the_same_file_object(tmp_path: Path, png_bytes: bytes) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(png_bytes)
    b64 = base64.b64encode(png_bytes).decode()
    expected = {"type": "file", "mediaType": "image/png", "data": b64}
    for form in (
        png_bytes,
        bytearray(png_bytes),
        str(path),
        path,
        f"file://{path}",
        b64,
        f"data:image/png;base64,{b64}",
    ):
        assert kling(form).to_gateway_body()["image"] == expected, type(form)


def test_media_type_is_sniffed_from_bytes(jpeg_bytes: bytes) -> None:
    assert kling(jpeg_bytes).to_gateway_body()["image"]["mediaType"] == "image/jpeg"


def test_url_image_is_sent_as_url_without_media_type() -> None:
    assert kling("https://example.com/a.png").to_gateway_body()["image"] == {
        "type": "url",
        "url": "https://example.com/a.png",
    }


def test_binary_images_inside_options_are_raw_base64(png_bytes: bytes) -> None:
    tail = make_image(640, 360, color="red")
    body = kling(png_bytes, imageTail=tail).to_gateway_body()
    assert body["providerOptions"]["klingai"]["imageTail"] == base64.b64encode(tail).decode()
    data_url = "data:image/png;base64," + base64.b64encode(tail).decode()
    body = kling(png_bytes, imageTail=data_url).to_gateway_body()
    assert not body["providerOptions"]["klingai"]["imageTail"].startswith("data:")


def test_missing_local_file_is_a_clear_error() -> None:
    with pytest.raises(
        InvalidVideoRequest,
        match=r"no such file on this worker: './no/such/file.png' \(relative paths resolve against the worker's",
    ):
        kling("./no/such/file.png")


def test_decompression_bomb_is_refused() -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buf, format="PNG")
    with pytest.raises(InvalidVideoRequest, match="too many pixels"):
        kling(buf.getvalue())


def test_s3_images_are_kept_until_presigned_and_keep_their_identity() -> None:
    call = {
        "prompt": {"image": "s3://bucket/in/cat.png", "text": "go"},
        "providerOptions": {"bytedance": {"referenceImages": ["s3://bucket/in/a.png", "https://x.io/b.png"]}},
    }
    request = VideoRequest.from_sdk_call(SEEDANCE, call)
    assert request.s3_uris() == ["s3://bucket/in/cat.png", "s3://bucket/in/a.png"]
    with pytest.raises(ValueError, match="presigned"):
        request.to_gateway_body()
    signed = request.with_presigned_images(lambda uri: "https://s3.local/" + uri[5:] + "?sig=1")
    body = signed.to_gateway_body()
    assert body["image"] == {"type": "url", "url": "https://s3.local/bucket/in/cat.png?sig=1"}
    assert body["providerOptions"]["bytedance"]["referenceImages"] == [
        "https://s3.local/bucket/in/a.png?sig=1",
        "https://x.io/b.png",
    ]
    assert signed.describe() == request.describe()
    assert signed.fingerprint() == request.fingerprint()
    assert "sig=1" not in json.dumps(signed.describe())


def test_describe_is_small_and_has_no_image_data(png_bytes: bytes) -> None:
    request = kling(png_bytes, imageTail=png_bytes, mode="pro")
    described = json.dumps(request.describe())
    assert len(described) < 1000
    assert base64.b64encode(png_bytes).decode()[:40] not in described
    image = request.describe()["prompt"]["image"]
    assert image["size"] == len(png_bytes)
    assert image["media_type"] == "image/png"
    assert (image["width"], image["height"]) == (640, 360)


def test_fingerprint_changes_with_the_request_only(png_bytes: bytes) -> None:
    a = kling("https://example.com/a.png", mode="std").fingerprint()
    assert a == kling("https://example.com/a.png", mode="std").fingerprint()
    assert a != kling("https://example.com/a.png", mode="pro").fingerprint()
    assert kling(png_bytes).fingerprint() != kling(make_image(640, 360, color="red")).fingerprint()


def test_gateway_body_round_trips(png_bytes: bytes) -> None:
    request = kling(png_bytes, imageTail=png_bytes, cameraControl=None, mode="pro")
    body = request.to_gateway_body()
    again = VideoRequest.from_gateway_body(KLING, body)
    assert again.to_gateway_body() == body
    assert again.fingerprint() == VideoRequest.from_gateway_body(KLING, body).fingerprint()


def test_gateway_body_never_reads_local_files(tmp_path: Path, png_bytes: bytes) -> None:
    path = tmp_path / "secret.png"
    path.write_bytes(png_bytes)
    body = {"prompt": "go", "n": 1, "image": {"type": "url", "url": str(path)}}
    with pytest.raises(InvalidVideoRequest, match=r"prompt\.image"):
        VideoRequest.from_gateway_body(KLING, body)
    body = {
        "prompt": "go",
        "n": 1,
        "image": {"type": "url", "url": "https://x/a.png"},
        "providerOptions": {"klingai": {"imageTail": str(path)}},
    }
    with pytest.raises(InvalidVideoRequest, match=r"imageTail"):
        VideoRequest.from_gateway_body(KLING, body)


def test_gateway_body_with_unknown_fields_is_refused() -> None:
    with pytest.raises(InvalidVideoRequest, match="unknown field"):
        VideoRequest.from_gateway_body(
            KLING, {"prompt": "x", "image": {"type": "url", "url": "https://a/b.png"}, "speed": 2}
        )


def test_plain_prompt_for_multi_reference() -> None:
    call = {
        "prompt": "A boy from [Image 1]",
        "providerOptions": {"bytedance": {"referenceImages": ["https://x/a.png"]}},
    }
    body = VideoRequest.from_sdk_call(SEEDANCE, call).to_gateway_body()
    assert body["prompt"] == "A boy from [Image 1]"
    assert "image" not in body


def test_presigned_url_signatures_stay_out_of_xcom_and_the_fingerprint() -> None:
    signed = "https://bucket.s3.amazonaws.com/a.png?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123"
    again = "https://bucket.s3.amazonaws.com/a.png?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=def456"
    first, second = kling(signed), kling(again)
    assert first.to_gateway_body()["image"]["url"] == signed
    assert "abc123" not in json.dumps(first.describe())
    assert first.describe()["prompt"]["image"]["source"] == "https://bucket.s3.amazonaws.com/a.png?..."
    assert first.fingerprint() == second.fingerprint()


@pytest.mark.parametrize(
    ("options", "param", "says"),
    [
        ({"gateway": {"tags": {"when": float("nan")}}}, "providerOptions.gateway.tags.when", "is nan"),
        ({"gateway": {"weights": [1.0, float("inf")]}}, "providerOptions.gateway.weights[1]", "is inf"),
        ({"gateway": {"raw": b"\x00\x01"}}, "providerOptions.gateway.raw", "is bytes"),
        ({"gateway": {"when": {1, 2}}}, "providerOptions.gateway.when", "is set"),
    ],
)
def test_values_json_cannot_carry_are_refused_before_the_body_is_built(
    options: dict[str, object], param: str, says: str
) -> None:
    call = {"prompt": {"image": "https://a/b.png", "text": "x"}, "providerOptions": options}
    with pytest.raises(InvalidVideoRequest) as refused:
        VideoRequest.from_sdk_call(KLING, call)
    (error,) = refused.value.errors
    assert error["param"] == param
    assert says in error["message"]
    assert KLING in error["message"]
    assert "JSON cannot carry" in error["message"]


def test_a_value_its_option_already_refuses_is_reported_once() -> None:
    camera = {"type": "simple", "config": {"zoom": float("nan")}}
    call = {
        "prompt": {"image": "https://a/b.png", "text": "x"},
        "providerOptions": {"klingai": {"cameraControl": camera}},
    }
    with pytest.raises(InvalidVideoRequest) as refused:
        VideoRequest.from_sdk_call(KLING, call)
    (error,) = refused.value.errors
    assert error["param"] == "providerOptions.klingai.cameraControl.config.zoom"
    assert "less than or equal to 10 (got nan)" in error["message"]
