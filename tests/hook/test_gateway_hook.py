"""VideoGatewayHook against a real HTTP server on loopback: headers, bodies, errors, retries, downloads."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_video_gen import protocol
from airflow_video_gen.hooks.gateway import (
    ASYNC_POOL_SIZE,
    VideoGatewayHook,
    close_shared_sessions,
    pool_gate,
    shared_session,
)
from airflow_video_gen.models import VideoRequest
from airflow_video_gen.protocol import GatewayConfig, RetryPolicy
from tests.sdk_reference.recording_server import RecordingGateway

MODEL = "klingai/kling-v2.6-i2v"
FAST_RETRIES = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture
def gateway() -> Iterator[RecordingGateway]:
    with RecordingGateway() as gw:
        yield gw


def make_hook(gw: RecordingGateway, **kw: Any) -> VideoGatewayHook:
    config = GatewayConfig(api_key="sk-test-0123456789", base_url=gw.base_url, team="team-a", timeout=5)
    return VideoGatewayHook(config=config, retry_policy=kw.pop("retry_policy", FAST_RETRIES), **kw)


def body() -> dict[str, Any]:
    call = {"prompt": {"image": "https://example.com/cat.png", "text": "The cat blinks"}, "duration": 5}
    return VideoRequest.from_sdk_call(MODEL, call).to_gateway_body()


def test_start_sends_protocol_headers_body_and_key(gateway: RecordingGateway) -> None:
    result = make_hook(gateway).start(MODEL, body(), "avg_key_1")
    assert result.operation == {"gatewayJobId": "job_1"}
    assert result.job_status == "queued"
    (sent,) = gateway.requests
    assert sent.path == "/v4/ai/video-model/start"
    assert sent.body == body()
    for name, value in {
        "authorization": "Bearer sk-test-0123456789",
        "ai-gateway-protocol-version": "0.0.1",
        "ai-gateway-auth-method": "api-key",
        "ai-video-model-specification-version": "4",
        "ai-model-id": MODEL,
        "content-type": "application/json",
        "x-vercel-ai-gateway-team": "team-a",
        "idempotency-key": "avg_key_1",
    }.items():
        assert sent.headers[name] == value, name
    assert sent.headers["user-agent"].startswith("airflow-video-gen/")


def test_status_round_trips_the_operation_unchanged(gateway: RecordingGateway) -> None:
    hook = make_hook(gateway)
    operation = hook.start(MODEL, body(), "k").operation
    pending = hook.status(MODEL, operation)
    done = hook.status(MODEL, operation)
    assert (pending.status, pending.job_status) == ("pending", "running")
    assert done.status == "completed"
    assert done.videos[0]["mediaType"] == "video/mp4"
    assert gateway.requests[1].body == {"operation": operation}
    assert "idempotency-key" not in gateway.requests[1].headers


def test_synchronous_generate_reads_the_sse_result(gateway: RecordingGateway) -> None:
    result = make_hook(gateway).generate(MODEL, body())
    assert result.status == "completed"
    sent = gateway.requests[0]
    assert sent.path == "/v4/ai/video-model"
    assert sent.headers["accept"] == "text/event-stream"


@pytest.mark.parametrize(
    ("status", "error_type", "cls", "retryable"),
    [
        (400, "invalid_request_error", protocol.InvalidRequestError, False),
        (401, "authentication_error", protocol.AuthenticationError, False),
        (403, "forbidden", protocol.ForbiddenError, False),
        (404, "model_not_found", protocol.ModelNotFoundError, False),
        (404, "not_found", protocol.NotFoundError, False),
        (424, "failed_dependency", protocol.FailedDependencyError, True),
        (429, "rate_limit_exceeded", protocol.RateLimitError, True),
        (500, "internal_server_error", protocol.ServerError, True),
        (502, None, protocol.ServerError, True),
        (503, None, protocol.ServerError, True),
        (504, None, protocol.ServerError, True),
    ],
)
def test_every_error_type_maps_and_retries_only_when_transient(
    status: int, error_type: str | None, cls: type[protocol.GatewayError], retryable: bool
) -> None:
    error_body: dict[str, Any] = {"error": {"message": f"boom {status}", "param": {"modelId": MODEL}}}
    if error_type:
        error_body["error"]["type"] = error_type
    answer = {"status": status, "body": error_body}
    with RecordingGateway(failures={"start": [answer] * 4}) as gw:
        with pytest.raises(cls) as info:
            make_hook(gw).start(MODEL, body(), "k")
        attempts = len(gw.requests)
    assert info.value.status_code == status
    assert info.value.retryable is retryable
    assert f"boom {status}" in str(info.value)
    assert attempts == (1 + FAST_RETRIES.max_retries if retryable else 1)
    if error_type == "model_not_found":
        assert info.value.param == {"modelId": MODEL}


def test_retry_after_is_honoured_and_the_key_is_kept() -> None:
    limited = {
        "status": 429,
        "headers": {"Retry-After": "0.4"},
        "body": {"error": {"type": "rate_limit_exceeded"}},
    }
    with RecordingGateway(failures={"start": [limited, 503]}) as gw:
        hook = make_hook(gw, retry_policy=RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.01))
        began = time.monotonic()
        result = hook.start(MODEL, body(), "avg_same")
        waited = time.monotonic() - began
        keys = [r.headers["idempotency-key"] for r in gw.requests]
    assert result.operation == {"gatewayJobId": "job_1"}
    assert keys == ["avg_same"] * 3
    assert waited >= 0.4
    assert hook.retries_made == 2


def test_dropped_connection_is_retried(gateway: RecordingGateway) -> None:
    with RecordingGateway(failures={"status": ["drop"]}) as gw:
        hook = make_hook(gw)
        operation = hook.start(MODEL, body(), "k").operation
        assert hook.status(MODEL, operation).status == "pending"
        assert hook.retries_made == 1


def test_no_retry_budget_left_raises_the_last_transient_error() -> None:
    with RecordingGateway(failures={"status": [500, 500]}) as gw:
        hook = make_hook(gw, retry_policy=RetryPolicy(max_retries=1, base_delay=0.01))
        operation = hook.start(MODEL, body(), "k").operation
        with pytest.raises(protocol.ServerError):
            hook.status(MODEL, operation)


def test_unreachable_gateway_is_a_transport_error() -> None:
    hook = VideoGatewayHook(
        config=GatewayConfig(api_key="k", base_url="http://127.0.0.1:9/v4/ai", timeout=1),
        retry_policy=RetryPolicy(max_retries=1, base_delay=0.01),
    )
    with pytest.raises(protocol.GatewayTransportError):
        hook.status(MODEL, {"gatewayJobId": "x"})
    assert hook.retries_made == 1


def test_download_streams_into_a_sink_and_hashes() -> None:
    video = bytes(range(256)) * 4096  # 1 MiB
    with RecordingGateway(video_delivery="url", video_bytes=video, pending_polls=0) as gw:
        hook = make_hook(gw)
        done = hook.status(MODEL, hook.start(MODEL, body(), "k").operation)
        sink = io.BytesIO()
        result = hook.download_video(done.videos[0], sink)
        assert "authorization" not in gw.requests[-1].headers
    assert sink.getvalue() == video
    import hashlib

    assert (result.size, result.sha256) == (len(video), hashlib.sha256(video).hexdigest())


def test_download_cap_refuses_a_larger_video() -> None:
    with RecordingGateway(video_delivery="url", video_bytes=b"x" * 300_000, pending_polls=0) as gw:
        hook = make_hook(gw)
        done = hook.status(MODEL, hook.start(MODEL, body(), "k").operation)
        with pytest.raises(protocol.VideoTooLargeError, match="cap"):
            hook.download_video(done.videos[0], io.BytesIO(), max_bytes=100_000)


def test_base64_video_is_decoded_and_capped() -> None:
    with RecordingGateway(video_delivery="base64", video_bytes=b"v" * 50_000, pending_polls=0) as gw:
        hook = make_hook(gw)
        done = hook.status(MODEL, hook.start(MODEL, body(), "k").operation)
    sink = io.BytesIO()
    assert hook.download_video(done.videos[0], sink).size == 50_000
    assert sink.getvalue() == b"v" * 50_000
    with pytest.raises(protocol.VideoTooLargeError):
        hook.download_video(done.videos[0], io.BytesIO(), max_bytes=10_000)


def test_expired_video_url_is_not_found() -> None:
    with RecordingGateway(video_delivery="url", pending_polls=0) as gw:
        hook = make_hook(gw)
        with pytest.raises(protocol.NotFoundError, match="expired"):
            hook.download_video({"type": "url", "url": gw.origin + "/gone.bin"}, io.BytesIO())


def test_test_connection_sends_one_config_get_and_reports_reachability(gateway: RecordingGateway) -> None:
    """The recording server answers 404 to ``GET /config``; the emulator tests of
    ``tests/hook/test_list_models.py`` cover success and a refused key."""
    ok, message = make_hook(gateway).test_connection()
    assert not ok
    assert message == (
        f"{gateway.base_url} does not answer like AI Gateway (GET /config: HTTP 404); "
        "the base URL must end in /v4/ai"
    )
    (sent,) = gateway.requests
    assert (sent.method, sent.path, sent.raw_body) == ("GET", "/v4/ai/config", b"")
    assert sent.headers["authorization"] == "Bearer sk-test-0123456789"
    assert sent.headers["x-vercel-ai-gateway-team"] == "team-a"
    assert "ai-model-id" not in sent.headers
    ok, message = VideoGatewayHook(
        config=GatewayConfig(api_key="k", base_url="http://127.0.0.1:9", timeout=1)
    ).test_connection()
    assert not ok
    assert message.startswith("Cannot reach http://127.0.0.1:9: ")


async def test_async_transport_shares_one_session_and_retries() -> None:
    with RecordingGateway(
        failures={"status": [{"status": 429, "headers": {"retry-after": "0"}, "body": {}}]}
    ) as gw:
        hook = make_hook(gw)
        start = await hook.astart(MODEL, body(), "avg_async")
        statuses = await asyncio.gather(*(make_hook(gw).astatus(MODEL, start.operation) for _ in range(5)))
        assert {s.status for s in statuses} <= {"pending", "completed"}
        assert shared_session() is shared_session()
        assert gw.requests[0].headers["idempotency-key"] == "avg_async"
        assert json.loads(gw.requests[0].raw_body) == body()
        assert len(gw.requests) == 1 + 5 + 1  # one 429 retried
    await close_shared_sessions()


async def test_async_errors_are_the_same_types() -> None:
    with RecordingGateway(failures={"start": [400]}) as gw, pytest.raises(protocol.InvalidRequestError):
        await make_hook(gw).astart(MODEL, body(), "k")
    await close_shared_sessions()


async def test_calls_wait_at_the_pool_gate_for_at_most_the_timeout(gateway: RecordingGateway) -> None:
    config = GatewayConfig(api_key="sk-test-0123456789", base_url=gateway.base_url, timeout=0.5)
    hook = VideoGatewayHook(config=config, retry_policy=RetryPolicy(max_retries=0))
    start = await hook.astart(MODEL, body(), "avg_gate")
    gate = pool_gate()
    for _ in range(ASYNC_POOL_SIZE):  # every connection of the loop busy
        await gate.acquire()
    began = time.monotonic()
    with pytest.raises(protocol.GatewayTransportError, match=r"no free connection within 0.5 s \(100 calls"):
        await hook.astatus(MODEL, start.operation)
    assert 0.5 <= time.monotonic() - began < 2
    assert len(gateway.requests) == 1  # the status call never left the gate
    waiting = asyncio.ensure_future(hook.astatus(MODEL, start.operation))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    gate.release()  # a connection frees up: the waiting call goes through
    assert (await waiting).status in ("pending", "completed")
    assert len(gateway.requests) == 2
    for _ in range(ASYNC_POOL_SIZE - 1):
        gate.release()
    await close_shared_sessions()


def test_api_key_never_in_repr_or_logs(gateway: RecordingGateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    hook = make_hook(gateway)
    hook.start(MODEL, body(), "k")
    request = protocol.build_start(hook.config, MODEL, body(), "k")
    assert "sk-test" not in repr(hook.config)
    assert "sk-test" not in repr(request)
    assert "sk-test" not in caplog.text
