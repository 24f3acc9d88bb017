"""``s3://`` images are checked before the billable start, by the rules of local files, from each
object's head and first bytes: against the real moto S3, with the real emulator counting starts."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from PIL import Image

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.models import InvalidVideoRequest
from airflow_video_gen.operators.s3_images import FIRST_READ, MAX_READ, check_s3_images, read_image_head
from airflow_video_gen.operators.submit import BaseVideoSubmitOperator, KlingSubmitOperator
from tests.imaging import make_image
from tests.s3.conftest import task_context

KLING = "klingai/kling-v2.6-i2v"


def put(s3: Any, bucket: str, key: str, data: bytes, content_type: str = "image/png") -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
    return f"s3://{bucket}/{key}"


class GetCounter:
    """What S3 sent for each GetObject of a boto3 client: the Range asked for and the bytes
    answered (the response's Content-Length), read from botocore's own events."""

    def __init__(self, client: Any) -> None:
        self.ranges: list[str | None] = []
        self.sent: list[int] = []
        client.meta.events.register("before-call.s3.GetObject", self._before)
        client.meta.events.register("after-call.s3.GetObject", self._after)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        self.ranges.append(params.get("headers", {}).get("Range"))

    def _after(self, http_response: Any, **_: Any) -> None:
        self.sent.append(int(http_response.headers["Content-Length"]))


@pytest.fixture
def counted(moto: LocalS3) -> tuple[Any, GetCounter]:
    """A boto3 client of the moto server, and what S3 sent it for each GetObject."""
    client = moto.client()
    return client, GetCounter(client)


def failure(operator: BaseVideoSubmitOperator, counted_client: Any = None) -> str:
    """The message ``check_s3_images`` fails the submit task with."""
    request = operator.build_request()
    with pytest.raises(AirflowFailException) as info:
        check_s3_images(request, aws_conn_id="aws_default", task=operator, client=counted_client)
    assert isinstance(info.value.__cause__, InvalidVideoRequest)
    return str(info.value)


# ---------------------------------------------------------------------- what the author is told


#: An object that is no image, stored under an image's name.
NOTES = b"meeting notes, not a picture\n" * 3


def refused_images(s3: Any, bucket: str) -> list[tuple[str, str]]:
    """``s3://`` images Kling must refuse, each with what its refusal says."""
    small = put(s3, bucket, "inputs/small.png", make_image(100, 100))
    text = put(s3, bucket, "inputs/cat.png", NOTES, content_type="text/plain")
    missing = f"s3://{bucket}/inputs/typo.png"
    return [
        (
            small,
            f"prompt.image: {small} is 100x100 px; {KLING} needs at least 300 px on each side "
            "(KlingAI image requirements",
        ),
        (
            text,
            f"prompt.image: {text}: bytes are not a decodable image (UnidentifiedImageError) (model "
            f"{KLING}); S3 holds it as Content-Type 'text/plain', {len(NOTES)} bytes",
        ),
        (
            missing,
            f"prompt.image: {missing} does not exist (bucket '{bucket}', connection 'aws_default'); "
            "check the bucket and key, or upload the image before this task runs",
        ),
    ]


def test_a_small_png_a_text_file_and_a_missing_object_are_refused_with_the_reason(
    moto: LocalS3, s3: Any, bucket: str
) -> None:
    messages = []
    for uri, expected in refused_images(s3, bucket):
        submit = KlingSubmitOperator(task_id="submit", model=KLING, image=uri, text="The cat blinks")
        message = failure(submit)
        assert expected in message
        assert "no generation was started" in message
        messages.append(message)
    small, _, missing = messages
    # What to do next: fix the image, or (for a missing object) the URI.
    assert "StageImageOperator(model=..., fix=True)" in small
    assert "StageImageOperator" not in missing


def test_the_submit_task_refuses_them_before_any_start(
    emulator: EmulatorProcess, moto: LocalS3, s3: Any, bucket: str
) -> None:
    starts = emulator.stats()["start_calls"]
    for uri, expected in refused_images(s3, bucket):
        submit = KlingSubmitOperator(task_id="submit", model=KLING, image=uri, text="The cat blinks")
        with pytest.raises(AirflowFailException) as info:
            submit.execute(task_context("submit"))
        assert expected in str(info.value)
    assert emulator.stats()["start_calls"] == starts


def test_a_good_s3_image_is_started_as_before(
    emulator: EmulatorProcess, moto: LocalS3, s3: Any, bucket: str
) -> None:
    uri = put(s3, bucket, "inputs/good.png", make_image(640, 360))
    submit = KlingSubmitOperator(task_id="submit", model=KLING, image=uri, text="The cat blinks")
    starts = emulator.stats()["start_calls"]
    submission = submit.execute(task_context("submit"))
    assert submission["request"]["prompt"]["image"] == {"source": uri}
    assert emulator.stats()["start_calls"] == starts + 1


# ------------------------------------------------------------------------ every image, every rule


def test_end_frames_and_masks_in_s3_are_checked_with_the_familys_rules(
    moto: LocalS3, s3: Any, bucket: str
) -> None:
    start = put(s3, bucket, "in/start.png", make_image(640, 360))
    tail = put(s3, bucket, "in/tail.jpg", make_image(200, 120, fmt="JPEG"), "image/jpeg")
    notes = put(s3, bucket, "in/mask.png", b"not a mask at all", "text/plain")
    square = put(s3, bucket, "in/square.png", make_image(400, 400))
    first = KlingSubmitOperator(
        task_id="tail", model="klingai/kling-v2.5-turbo-i2v", image=start, text="x", image_tail=tail
    )
    message = failure(first)
    assert (
        f"providerOptions.klingai.imageTail: {tail} is 200x120 px; klingai/kling-v2.5-turbo-i2v needs "
        "at least 300 px on each side"
    ) in message

    masks = KlingSubmitOperator(
        task_id="masks",
        model="klingai/kling-v2.5-turbo-i2v",
        image=start,
        text="x",
        static_mask=notes,
        dynamic_masks=[{"mask": square, "trajectories": [{"x": 1, "y": 1}, {"x": 5, "y": 5}]}],
    )
    message = failure(masks)
    assert f"providerOptions.klingai.staticMask: {notes}: bytes are not a decodable image" in message
    # Kling's own mask rule reads the probes of both S3 images: the mask's aspect must match.
    assert (
        f"providerOptions.klingai.dynamicMasks[0].mask: {square}: mask is 400x400; its aspect ratio "
        "must match prompt.image (640x360)"
    ) in message


def test_url_only_families_check_their_s3_images_too(moto: LocalS3, s3: Any, bucket: str) -> None:
    from airflow_video_gen.operators.submit import SeedanceSubmitOperator

    uri = put(s3, bucket, "in/readme.png", b"# README\n", "text/markdown")
    submit = SeedanceSubmitOperator(task_id="s", model="bytedance/seedance-v1.0-pro", image=uri, text="x")
    assert f"prompt.image: {uri}: bytes are not a decodable image" in failure(submit)


# ------------------------------------------------------------------------------------- bytes read


@pytest.fixture(scope="module")
def large_png() -> bytes:
    """A valid 20 MB PNG: 2600 x 2600 pixels of noise, stored uncompressed."""
    pixels = Image.frombytes("RGB", (2600, 2600), os.urandom(2600 * 2600 * 3))
    out = io.BytesIO()
    pixels.save(out, format="PNG", compress_level=0)
    data = out.getvalue()
    assert len(data) > 20_000_000
    return data


def test_a_20_mb_image_is_judged_from_its_first_64_kib(
    moto: LocalS3, s3: Any, bucket: str, counted: tuple[Any, GetCounter], large_png: bytes
) -> None:
    client, gets = counted
    uri = put(s3, bucket, "in/huge.png", large_png)
    head = read_image_head(client, uri)
    assert head is not None
    assert (head.size, len(head.data), head.checkable) == (len(large_png), FIRST_READ, True)
    assert gets.ranges == [f"bytes=0-{FIRST_READ - 1}"]
    assert sum(gets.sent) == FIRST_READ

    # The size rule reads the object's real size, not the bytes read.
    submit = KlingSubmitOperator(task_id="submit", model=KLING, image=uri, text="x")
    message = failure(submit, client)
    assert (f"prompt.image: {uri} is {len(large_png):,} bytes; {KLING} accepts at most 10,485,760") in message
    assert sum(gets.sent) == 2 * FIRST_READ
    assert all(r is not None and r.startswith("bytes=0-") for r in gets.ranges)


def test_a_header_longer_than_64_kib_is_read_further_and_no_more(
    moto: LocalS3, s3: Any, bucket: str, counted: tuple[Any, GetCounter]
) -> None:
    client, gets = counted
    out = io.BytesIO()
    # A colour profile of 200 KB comes before the frame header in a JPEG.
    Image.new("RGB", (120, 120), "teal").save(out, format="JPEG", icc_profile=os.urandom(200_000))
    data = out.getvalue() + os.urandom(3_000_000)  # trailing bytes a decoder ignores
    uri = put(s3, bucket, "in/profiled.jpg", data, "image/jpeg")
    head = read_image_head(client, uri)
    assert head is not None
    assert head.checkable
    assert gets.ranges == [f"bytes=0-{FIRST_READ - 1}", f"bytes={FIRST_READ}-{8 * FIRST_READ - 1}"]
    assert sum(gets.sent) == 8 * FIRST_READ < len(data)

    submit = KlingSubmitOperator(task_id="submit", model=KLING, image=uri, text="x")
    assert f"prompt.image: {uri} is 120x120 px" in failure(submit, client)


def test_an_image_whose_header_never_ends_is_left_to_the_gateway(
    moto: LocalS3, s3: Any, bucket: str, counted: tuple[Any, GetCounter], capfd: pytest.CaptureFixture[str]
) -> None:
    client, gets = counted
    # PNG's signature, then chunks that never reach the image header: at most MAX_READ is read.
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(MAX_READ + 1_000_000)
    uri = put(s3, bucket, "in/endless.png", data)
    head = read_image_head(client, uri)
    assert head is not None
    assert (len(head.data), head.checkable) == (MAX_READ, False)
    assert sum(gets.sent) == MAX_READ
    submit = KlingSubmitOperator(task_id="submit", model=KLING, image=uri, text="x")
    capfd.readouterr()
    check_s3_images(submit.build_request(), aws_conn_id="aws_default", task=submit, client=client)
    assert f"The header of {uri} does not end within its first 4,096 KiB" in "".join(capfd.readouterr())


def test_the_same_uri_in_two_parameters_is_read_once(
    moto: LocalS3, s3: Any, bucket: str, counted: tuple[Any, GetCounter]
) -> None:
    client, gets = counted
    uri = put(s3, bucket, "in/same.png", make_image(640, 360))
    submit = KlingSubmitOperator(
        task_id="submit", model="klingai/kling-v2.5-turbo-i2v", image=uri, text="x", image_tail=uri
    )
    check_s3_images(submit.build_request(), aws_conn_id="aws_default", task=submit, client=client)
    assert len(gets.ranges) == 1


def test_an_unsafe_key_is_refused_before_any_read(moto: LocalS3, bucket: str) -> None:
    submit = KlingSubmitOperator(task_id="submit", model=KLING, image=f"s3://{bucket}/a/../b.png", text="x")
    message = failure(submit)
    assert re.search(r"prompt.image: .*unsafe key \(path traversal or control characters\)", message)


def test_images_not_in_s3_are_not_read_again(moto: LocalS3, tmp_path: Path) -> None:
    local = tmp_path / "start.png"
    local.write_bytes(make_image(640, 360))
    submit = KlingSubmitOperator(
        task_id="submit", model=KLING, image=str(local), text="x", aws_conn_id="no_such_connection"
    )
    check_s3_images(submit.build_request(), aws_conn_id="no_such_connection", task=submit)


@pytest.mark.slow
def test_passing_the_whole_staging_xcom_fails_the_submit_task_with_the_fix(
    emulator: EmulatorProcess,
    moto: LocalS3,
    bucket: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tests.airflow_harness import run_dag

    image = tmp_path / "cat.png"
    image.write_bytes(make_image(640, 360))
    source = f"""
    from airflow.sdk import DAG
    from airflow_video_gen.operators.staging import StageImageOperator
    from airflow_video_gen.operators.submit import KlingSubmitOperator

    with DAG("whole_stage_xcom", schedule=None) as dag:
        stage = StageImageOperator(task_id="stage", image={str(image)!r}, model={KLING!r},
                                   dest_s3_uri="s3://{bucket}/inputs/")
        KlingSubmitOperator(task_id="submit", model={KLING!r}, image=stage.output, text="The cat blinks")
    """
    starts = emulator.stats()["start_calls"]
    capfd.readouterr()
    result = run_dag(source, "whole_stage_xcom")
    log = "".join(capfd.readouterr())
    assert result.states == {"stage": "success", "submit": "failed"}
    assert (
        "prompt.image: is the whole XCom of StageImageOperator (a dict with s3_uri, url, width...); pass "
        'stage.output["s3_uri"] instead'
    ) in log
    assert emulator.stats()["start_calls"] == starts


def test_s3_out_of_reach_fails_the_try_for_a_retry(moto: LocalS3, bucket: str) -> None:
    import boto3
    from airflow.sdk.exceptions import AirflowException
    from botocore.config import Config

    from airflow_video_gen.devtools.local_stack import free_port

    unreachable = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    uri = f"s3://{bucket}/inputs/cat.png"
    submit = KlingSubmitOperator(task_id="submit", model=KLING, image=uri, text="x", retries=2)
    with pytest.raises(AirflowException) as info:
        check_s3_images(submit.build_request(), aws_conn_id="aws_default", task=submit, client=unreachable)
    assert not isinstance(info.value, AirflowFailException)
    assert str(info.value).startswith(f"S3 failed on {uri} (KlingSubmitOperator image): Could not connect")
    assert "Airflow retries it if tries are left (retries=2)" in str(info.value)
