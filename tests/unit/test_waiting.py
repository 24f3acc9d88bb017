"""The waiting logic shared by the sensors and submit's ``wait_for_completion``, and the redactor."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from airflow_video_gen.sensors.generation import KlingGenerationSensor
from airflow_video_gen.triggers.generation import VideoGenerationTrigger
from airflow_video_gen.utils.redaction import redact, redact_url
from airflow_video_gen.waiting import DEFER_TIMEOUT_MARGIN, defer_until_done

SUBMISSION = {
    "model": "klingai/kling-v2.6-i2v",
    "family": "kling",
    "operation": {"gatewayJobId": "job-1"},
    "idempotency_key": "avg_test",
    "submitted_at": time.time(),
    "request": {},
    "warnings": [],
}


def _sensor() -> KlingGenerationSensor:
    return KlingGenerationSensor(task_id="wait", submission=SUBMISSION)


# ------------------------------------------------------------------------------- resumed events


@pytest.mark.parametrize("event", [None, {}])
def test_a_task_resumed_without_an_event_fails_clearly(event: dict[str, Any] | None) -> None:
    with pytest.raises(AirflowException, match="resumed without an event"):
        _sensor().execute_complete({}, event)


def test_an_event_without_a_status_fails_clearly() -> None:
    with pytest.raises(AirflowException, match="status is None"):
        _sensor().execute_complete({}, {"message": "something happened"})


@pytest.mark.parametrize("status", ["pending", "invalid", "done"])
def test_an_event_with_an_unknown_status_fails_clearly(status: str) -> None:
    with pytest.raises(AirflowException, match=f"status is '{status}', not one of"):
        _sensor().execute_complete({}, {"status": status})


def test_a_completed_event_returns_the_submission_and_videos() -> None:
    video = {"type": "url", "url": "https://files.example/v.mp4", "mediaType": "video/mp4"}
    result = _sensor().execute_complete({}, {"status": "completed", "videos": [video]})
    assert (result["status"], result["videos"], result["operation"]) == (
        "completed",
        [video],
        SUBMISSION["operation"],
    )


def test_an_error_event_fails_without_retry() -> None:
    with pytest.raises(AirflowFailException, match="content policy"):
        _sensor().execute_complete({}, {"status": "error", "message": "content policy"})


def test_deferral_carries_the_deadline_and_airflows_timeout_net() -> None:
    deadline = time.time() + 60
    with pytest.raises(TaskDeferred) as deferred:
        defer_until_done(
            _sensor(),
            VideoGenerationTrigger,
            SUBMISSION,
            deadline=deadline,
            poll_interval=2.0,
            gateway_conn_id="gw",
            kwargs={"submission": SUBMISSION},
        )
    trigger = deferred.value.trigger
    assert isinstance(trigger, VideoGenerationTrigger)
    assert (trigger.deadline, trigger.poll_interval, trigger.gateway_conn_id, trigger.wait_first) == (
        deadline,
        2.0,
        "gw",
        True,
    )
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.kwargs == {"submission": SUBMISSION}
    assert deferred.value.timeout is not None
    assert 60 + DEFER_TIMEOUT_MARGIN - 5 < deferred.value.timeout.total_seconds() <= 60 + DEFER_TIMEOUT_MARGIN


# ------------------------------------------------------------------------------- the redactor


def test_a_file_object_is_listed_by_size_with_its_other_keys() -> None:
    body = {"prompt": {"image": {"type": "file", "mediaType": "image/png", "data": "A" * 4000}}}
    assert redact(body) == {"prompt": {"image": {"type": "file", "mediaType": "image/png", "size": 3000}}}


def test_a_base64_video_is_listed_by_size_and_urls_stay_whole_for_xcom() -> None:
    url = "https://files.example/" + "v" * 300 + ".mp4?token=abc"
    videos = [
        {"type": "base64", "mediaType": "video/mp4", "data": "B" * 8000},
        {"type": "url", "mediaType": "video/mp4", "url": url},
    ]
    redacted = redact(videos, max_chars=None)
    assert redacted[0] == {"type": "base64", "mediaType": "video/mp4", "size": 6000}
    assert redacted[1]["url"] == url
    assert "BBBB" not in json.dumps(redacted)


def test_long_strings_are_shortened_for_logs() -> None:
    assert redact({"negativePrompt": "x" * 300, "prompt": "short"}) == {
        "negativePrompt": "<300 chars>",
        "prompt": "short",
    }


def test_url_queries_are_stripped_when_asked() -> None:
    meta = {"lastFrame": {"url": "https://cdn.example/f.png?X-Amz-Signature=s&a=1"}, "note": "https://x?y"}
    assert redact(meta, strip_url_queries=True) == {
        "lastFrame": {"url": "https://cdn.example/f.png?..."},
        "note": "https://x?...",
    }
    assert redact(meta) == meta


def test_only_signed_urls_lose_their_query() -> None:
    signed = "https://bucket.s3.amazonaws.com/in/x.png?X-Amz-Credential=AKIA&X-Amz-Signature=abc"
    plain = "https://images.example/cat.png?size=large"
    assert redact_url(signed, only_signed=True) == "https://bucket.s3.amazonaws.com/in/x.png?..."
    assert redact_url(plain, only_signed=True) == plain
    assert redact_url(plain) == "https://images.example/cat.png?..."
    assert redact_url("https://user:secret@host:8443/p#frag") == "https://host:8443/p"
