"""Batch tasks before any call: items checked when the DAG file is parsed, the batch trigger's
kwargs, and the records the videos command reads. Runs without Airflow's database or a gateway."""

from __future__ import annotations

import pytest

from airflow_video_gen.batches import failed_record, failure_lines, likely_ended
from airflow_video_gen.models import InvalidVideoRequest
from airflow_video_gen.operators.batch import BatchSubmitOperator
from airflow_video_gen.polling import expected_seconds
from airflow_video_gen.triggers.batch import BatchGenerationTrigger
from airflow_video_gen.utils.archive_records import videos_of_record
from airflow_video_gen.waiting import wait_kwargs

KLING = "klingai/kling-v2.6-i2v"
GROK = "xai/grok-imagine-video"


def test_literal_items_are_checked_at_parse_time_each_naming_its_position() -> None:
    with pytest.raises(InvalidVideoRequest) as info:
        BatchSubmitOperator(
            task_id="submit",
            model=KLING,
            requests=[
                {"image": "https://example.com/a.png"},
                {"image": "https://example.com/b.png", "duration": 7},
            ],
        )
    assert [e["param"] for e in info.value.errors] == ["requests[1].duration"]
    assert KLING in str(info.value)


def test_an_unknown_item_keyword_is_refused_with_the_one_it_most_likely_means() -> None:
    with pytest.raises(
        ValueError, match=r"requests\[0\] has unknown keyword\(s\) 'durration' \(did you mean 'duration'\?\)"
    ):
        BatchSubmitOperator(
            task_id="submit", model=KLING, requests=[{"image": "https://e.com/a.png", "durration": 5}]
        )


def test_templated_items_and_failed_records_wait_for_the_run() -> None:
    # A templated list and a failed record are not checked while the DAG file is parsed.
    BatchSubmitOperator(task_id="a", requests="{{ ti.xcom_pull('stage') }}")
    failed = failed_record("stage", "unreadable", model=KLING, image="/data/x.png")
    BatchSubmitOperator(task_id="b", model=KLING, requests=[failed, {"image": "https://example.com/a.png"}])


def test_the_trigger_keeps_what_its_waits_share_once() -> None:
    submissions = [
        {"model": KLING, "operation": {"gatewayJobId": f"job_{i}"}, "submitted_at": 100.0 + i}
        for i in range(3)
    ]
    waits = [
        wait_kwargs(s, deadline=1000.0, poll_interval=2.0, gateway_conn_id="ai_gateway_default")
        for s in submissions
    ]
    trigger = BatchGenerationTrigger.of(waits)
    path, kwargs = trigger.serialize()
    assert path == "airflow_video_gen.triggers.batch.BatchGenerationTrigger"
    assert kwargs["shared"]["deadline"] == 1000.0
    assert kwargs["shared"]["model"] == KLING
    assert [op["operation"]["gatewayJobId"] for op in kwargs["operations"]] == ["job_0", "job_1", "job_2"]
    # Each generation is waited for by the trigger a single wait defers to, with the same kwargs.
    rebuilt = BatchGenerationTrigger(**kwargs).waits()
    assert len(rebuilt) == 3
    for single, wait in zip(rebuilt, waits, strict=True):
        assert wait.items() <= single.serialize()[1].items()


def test_a_batch_is_read_from_the_worker_only_once_past_its_expected_time() -> None:
    expected = expected_seconds(GROK, {"duration": 1})
    fresh = {"model": GROK, "request": {"duration": 1}, "submitted_at": 1000.0}
    old = {**fresh, "submitted_at": 1000.0 - expected}
    assert likely_ended([old, old], now=1000.0)
    assert not likely_ended([old, fresh], now=1000.0)


def test_failure_lines_name_position_model_image_step_and_message() -> None:
    records = [
        {"status": "archived", "videos": []},
        failed_record("wait", "Video generation error: boom", model=KLING, image="s3://b/staged/x.png"),
    ]
    assert failure_lines(records) == [
        f"  [1] {KLING}, s3://b/staged/x.png (at wait): Video generation error: boom"
    ]


def test_the_videos_of_a_batch_archive_are_read_from_its_records() -> None:
    video = {"s3_uri": "s3://b/v/video-0.mp4", "size": 10, "sha256": "ab", "media_type": "video/mp4"}
    records = [
        {"status": "archived", "videos": [video], "model": KLING, "idempotency_key": "avg_1"},
        failed_record("wait", "boom", model=KLING),
    ]
    (found,) = videos_of_record(records, task_id="archive", map_index=3)
    assert (found.s3_uri, found.idempotency_key, found.map_index) == (video["s3_uri"], "avg_1", 3)
