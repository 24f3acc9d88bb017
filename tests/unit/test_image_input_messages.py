"""What a DAG author reads when an image input is not what the package expects: the whole XCom of
StageImageOperator instead of its ``s3_uri``, or a local path the worker cannot find."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_video_gen.models import InvalidVideoRequest, VideoRequest
from airflow_video_gen.operators.submit import KlingSubmitOperator

KLING = "klingai/kling-v2.6-i2v"
STAGED = {
    "s3_uri": "s3://my-bucket/staging/0123abcd.png",
    "url": "https://my-bucket.s3.amazonaws.com/staging/0123abcd.png?X-Amz-Signature=abc",
    "width": 640,
    "height": 360,
    "media_type": "image/png",
    "size": 1234,
    "sha256": "0123abcd",
}
WHOLE_XCOM = (
    "prompt.image: is the whole XCom of StageImageOperator (a dict with s3_uri, url, width...); pass "
    'stage.output["s3_uri"] instead, and the submit task presigns it'
)


def refusal(**parts: object) -> str:
    with pytest.raises(InvalidVideoRequest) as info:
        VideoRequest.from_parts(KLING, text="The cat blinks", **parts)  # type: ignore[arg-type]
    return str(info.value)


def test_the_whole_xcom_of_the_staging_task_is_named_with_the_fix() -> None:
    assert WHOLE_XCOM in refusal(image=STAGED)
    # The same dict rendered by a template as text (Airflow's default rendering).
    assert WHOLE_XCOM in refusal(image=str(STAGED))
    # Anywhere an image goes: here Kling's end frame.
    message = refusal(image="https://example.com/a.png", options={"imageTail": STAGED})
    assert "providerOptions.klingai.imageTail: is the whole XCom of StageImageOperator" in message
    # The presigned URL of the XCom is never repeated in the message.
    assert "X-Amz-Signature" not in message


def test_the_submit_operator_says_it_when_the_dag_is_parsed() -> None:
    with pytest.raises(InvalidVideoRequest, match=r'pass stage.output\["s3_uri"\] instead'):
        KlingSubmitOperator(task_id="submit", image=STAGED, text="The cat blinks")


def test_a_relative_path_that_does_not_exist_names_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        "prompt.image: no such file on this worker: 'images/cat.png' (relative paths resolve against "
        f"the worker's working directory, now {tmp_path}). Give an absolute path that exists on every "
        "worker, or stage the image to S3 with StageImageOperator and pass its s3_uri"
    ) in refusal(image="images/cat.png")
    assert (
        f"'cat.png' (relative paths resolve against the worker's working directory, now {os.getcwd()})"
        in (refusal(image="cat.png"))
    )


def test_other_missing_paths(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "cat.png"
    assert f"no such file on this worker: '{missing}' (absolute path)" in refusal(image=str(missing))
    assert f"no such file on this worker: '{missing}' (absolute path)" in refusal(image=missing)
    assert "'~/cat.png' (~ is not expanded; write the whole path)" in refusal(image="~/cat.png")
    assert f"{tmp_path} is not a file (a directory?)" in refusal(image=tmp_path)
    # Text that is no path keeps the general message.
    assert "not a URL, s3:// URI, an existing local file, data URL or base64 image: 'a cat'" in refusal(
        image="a cat"
    )


def test_the_submit_task_fails_with_it_at_run_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # While the DAG is parsed the path is left for the worker; the worker says where it looked.
    submit = KlingSubmitOperator(task_id="submit", image="inputs/cat.png", text="The cat blinks")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AirflowFailException) as info:
        submit.build_request()
    assert f"working directory, now {tmp_path}" in str(info.value)
