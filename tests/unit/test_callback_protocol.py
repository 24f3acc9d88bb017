"""Callbacks on the wire: ``callbackUrl`` in the start body (never in XCom's description nor the
idempotency fingerprint), the signing secret read out of the start answer, and signatures checked
as the official client's guide describes (HMAC-SHA256 over ``"<t>.<raw body>"``, 5 minutes)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from airflow_video_gen import protocol
from airflow_video_gen.models import InvalidVideoRequest, VideoRequest

MODEL = "klingai/kling-v2.6-i2v"
CALL = {"prompt": {"image": "https://example.com/cat.png", "text": "The cat blinks"}}
BODY = b'{"type":"video.generation.completed","data":{"jobId":"job_1","status":"completed"}}'
NOW = 1_800_000_000


def _header(secret: str, stamp: int, body: bytes = BODY) -> str:
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def test_callback_url_goes_last_in_the_start_body_and_changes_neither_description_nor_key() -> None:
    plain = VideoRequest.from_sdk_call(MODEL, CALL)
    called = plain.with_callback_url("https://airflow.example.com/video-gen-callbacks/gateway?t=abc")
    body = called.to_gateway_body()
    assert list(body)[-1] == "callbackUrl"
    assert body["callbackUrl"] == "https://airflow.example.com/video-gen-callbacks/gateway?t=abc"
    assert "callbackUrl" not in plain.to_gateway_body()
    assert called.describe() == plain.describe()
    assert called.fingerprint() == plain.fingerprint()
    # The server side reads it back; the synchronous endpoint never sends it.
    assert VideoRequest.from_gateway_body(MODEL, body).callback_url == body["callbackUrl"]
    assert "callbackUrl" not in json.loads(
        protocol.build_generate(protocol.GatewayConfig("k"), MODEL, body).body
    )


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "/video-gen-callbacks/gateway", "https://", 5])
def test_a_bad_callback_url_is_refused_naming_the_parameter_but_not_the_url(url: object) -> None:
    with pytest.raises(InvalidVideoRequest) as caught:
        VideoRequest.from_sdk_call(MODEL, CALL).with_callback_url(url)
    [issue] = caught.value.issues
    assert issue.param == "callbackUrl"
    assert "must be an absolute https URL the gateway can reach" in issue.message
    assert MODEL in str(caught.value)


def test_the_signing_secret_is_taken_out_of_the_start_metadata() -> None:
    answer = {
        "operation": {"gatewayJobId": "job_1"},
        "providerMetadata": {
            "gateway": {
                "asyncJob": {"jobId": "job_1", "status": "queued", "webhookSigningSecret": "whsec_s3cr3t"}
            }
        },
    }
    started = protocol.read_start(200, {}, json.dumps(answer).encode())
    assert started.webhook_signing_secret == "whsec_s3cr3t"
    assert started.job_id == "job_1"
    assert started.provider_metadata == {"gateway": {"asyncJob": {"jobId": "job_1", "status": "queued"}}}
    assert "whsec_s3cr3t" not in repr(started)


def test_signatures_are_checked_with_the_secret_freshness_and_exact_body() -> None:
    good = _header("whsec_a", NOW)
    assert protocol.verify_webhook(good, BODY, "whsec_a", now=NOW + 299)
    assert not protocol.verify_webhook(good, BODY, "whsec_a", now=NOW + 301)  # stale
    assert not protocol.verify_webhook(good, BODY, "whsec_b", now=NOW)  # another secret
    assert not protocol.verify_webhook(good, BODY + b" ", "whsec_a", now=NOW)  # another body
    assert not protocol.verify_webhook(None, BODY, "whsec_a", now=NOW)
    assert not protocol.verify_webhook("v1=" + "0" * 64, BODY, "whsec_a", now=NOW)
    assert protocol.webhook_timestamp(good, now=NOW) == NOW
    assert protocol.webhook_timestamp(f"t={NOW},v1=XYZ", now=NOW) is None


def test_a_callback_body_gives_its_job_and_terminal_status() -> None:
    event = protocol.read_webhook(BODY)
    assert (event.type, event.job_id, event.status) == ("video.generation.completed", "job_1", "completed")
    for bad in (b"not json", b'{"data": {"jobId": "job_1", "status": "running"}}', b"[]"):
        with pytest.raises(protocol.GatewayProtocolError):
            protocol.read_webhook(bad)
