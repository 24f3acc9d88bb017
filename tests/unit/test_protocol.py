"""The sans-IO protocol: answers read, errors typed, SSE decoded, retries advised."""

from __future__ import annotations

import email.utils
import json
import random

import pytest

from airflow_video_gen import protocol
from airflow_video_gen.protocol import RetryPolicy, SseDecoder
from airflow_video_gen.waiting import outcome_of


def test_start_answer_is_read() -> None:
    answer = {
        "operation": {"gatewayJobId": "job_123"},
        "warnings": [{"type": "other", "message": "m"}],
        "providerMetadata": {"gateway": {"asyncJob": {"jobId": "job_123", "status": "queued"}}},
    }
    result = protocol.read_start(200, {}, json.dumps(answer).encode())
    assert result.operation == {"gatewayJobId": "job_123"}
    assert result.job_status == "queued"
    assert result.warnings == [{"type": "other", "message": "m"}]


@pytest.mark.parametrize(
    ("answer", "status", "terminal"),
    [
        ({"status": "pending"}, "pending", False),
        (
            {"status": "completed", "videos": [{"type": "url", "url": "u", "mediaType": "video/mp4"}]},
            "completed",
            True,
        ),
        ({"status": "error", "error": "Async video job failed"}, "error", True),
        ({"status": "cancelled"}, "cancelled", True),
    ],
)
def test_status_answers(answer: dict[str, object], status: str, terminal: bool) -> None:
    result = protocol.read_status(200, {}, json.dumps(answer).encode())
    assert (result.status, result.terminal) == (status, terminal)
    if status == "error":
        assert result.error == "Async video job failed"


def test_expires_at_is_read_from_metadata() -> None:
    answer = {
        "status": "completed",
        "videos": [{"type": "url", "url": "u"}],
        "providerMetadata": {"gateway": {"asyncJob": {"status": "completed", "result": {"expiresAt": 1234}}}},
    }
    assert protocol.read_status(200, {}, json.dumps(answer).encode()).expires_at == 1234


@pytest.mark.parametrize(
    "content", [b"not json", b"[1,2]", b'{"status": "weird"}', b'{"status": "completed", "videos": []}']
)
def test_answers_off_protocol_are_protocol_errors(content: bytes) -> None:
    with pytest.raises(protocol.GatewayProtocolError):
        protocol.read_status(200, {}, content)


def test_error_answer_without_json_keeps_status_and_text() -> None:
    error = protocol.error_from_answer(502, {}, b"<html>Bad gateway</html>")
    assert isinstance(error, protocol.ServerError)
    assert error.retryable
    assert error.error_type == "http_502"
    assert "Bad gateway" in error.message


def test_generation_id_and_param_are_kept() -> None:
    body = {
        "error": {"message": "bad", "type": "invalid_request_error", "param": "duration"},
        "generationId": "gen_1",
    }
    error = protocol.error_from_answer(400, {}, json.dumps(body).encode())
    assert (error.param, error.generation_id) == ("duration", "gen_1")


def test_retry_after_seconds_and_http_date() -> None:
    assert protocol.parse_retry_after("7") == 7.0
    when = email.utils.formatdate(1_000_030, usegmt=True)
    assert protocol.parse_retry_after(when, now=1_000_000) == pytest.approx(30, abs=1)
    assert protocol.parse_retry_after("soon") is None


def test_retry_policy_backs_off_with_jitter_and_stops() -> None:
    policy = RetryPolicy(max_retries=3, base_delay=1, max_delay=4)
    transient = protocol.ServerError("x")
    rng = random.Random(1)
    delays = [policy.delay(i, transient, rng) for i in range(4)]
    assert delays[3] is None
    for attempt, delay in enumerate(delays[:3]):
        assert delay is not None
        assert 0 <= delay <= min(4, 2**attempt)
    assert policy.delay(0, protocol.InvalidRequestError("x")) is None
    assert policy.delay(0, protocol.RateLimitError("x", retry_after=12)) == 12
    assert policy.delay(0, protocol.RateLimitError("x", retry_after=9999)) is None


def test_sse_decoder_skips_keepalives_and_joins_chunks() -> None:
    decoder = SseDecoder()
    event = json.dumps({"type": "result", "videos": [{"type": "base64", "data": "AA=="}]})
    stream = f": keep-alive\n\n: keep-alive\n\ndata: {event}\n\n".encode()
    events = []
    for i in range(0, len(stream), 7):
        events += decoder.feed(stream[i : i + 7])
    assert len(events) == 1
    assert protocol.read_generate_event(events[0]).status == "completed"


def test_sse_error_event_raises_its_typed_error() -> None:
    event = {
        "type": "error",
        "message": "Rate limit exceeded",
        "errorType": "rate_limit_exceeded",
        "statusCode": 429,
    }
    with pytest.raises(protocol.RateLimitError, match="Rate limit exceeded"):
        protocol.read_generate_event(event)


def test_generate_body_always_has_provider_options_and_no_callback() -> None:
    config = protocol.GatewayConfig(api_key="k")
    request = protocol.build_generate(config, "m/x", {"prompt": "p", "n": 1, "callbackUrl": "https://x"})
    assert json.loads(request.body) == {"prompt": "p", "n": 1, "providerOptions": {}}


def test_redacted_body_hides_base64_and_long_strings() -> None:
    body = {
        "image": {"type": "file", "mediaType": "image/png", "data": "A" * 4000},
        "providerOptions": {"klingai": {"imageTail": "B" * 5000}},
    }
    from airflow_video_gen.utils.redaction import redact

    redacted = redact(body)
    text = json.dumps(redacted)
    assert "AAAA" not in text
    assert "BBBB" not in text
    assert redacted["image"] == {"type": "file", "mediaType": "image/png", "size": 3000}


def test_idempotency_key_is_stable_and_part_sensitive() -> None:
    key = protocol.derive_idempotency_key("dag", "run", "task", -1, "abc")
    assert key == protocol.derive_idempotency_key("dag", "run", "task", -1, "abc")
    assert key != protocol.derive_idempotency_key("dag", "run", "task", 0, "abc")
    assert key.startswith("avg_")


def test_gateway_errors_pickle_with_their_fields() -> None:
    import pickle

    error = protocol.RateLimitError("slow down", status_code=429, retry_after=3)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.retry_after, again.status_code, str(again)) == (
        protocol.RateLimitError,
        3,
        429,
        str(error),
    )


def test_base64_video_decodes_in_pieces() -> None:
    import base64

    data = bytes(range(256)) * 1000
    pieces = list(protocol.decode_base64_video(base64.b64encode(data).decode(), chunk_chars=1000))
    assert len(pieces) > 1
    assert b"".join(pieces) == data


def test_wrapped_base64_video_decodes_in_pieces() -> None:
    import base64
    import textwrap

    data = bytes(range(256)) * 500
    wrapped = "\n".join(textwrap.wrap(base64.b64encode(data).decode(), 76))
    assert b"".join(protocol.decode_base64_video(wrapped, chunk_chars=999)) == data


def test_outcome_lists_base64_by_size_everywhere() -> None:
    frame = {"type": "base64", "data": "A" * 4000, "mediaType": "image/png"}
    status = protocol.StatusResult(
        status="completed",
        videos=[{"type": "base64", "data": "B" * 8000, "mediaType": "video/mp4"}],
        provider_metadata={"bytedance": {"lastFrame": frame, "lastFrames": [frame]}},
    )
    event = outcome_of(status)
    assert event is not None
    text = json.dumps(event)
    assert "AAAA" not in text
    assert "BBBB" not in text
    assert event["videos"][0]["size"] == 6000
    assert event["provider_metadata"]["bytedance"]["lastFrame"]["size"] == 3000


def test_config_request_is_a_get_with_the_official_clients_headers() -> None:
    config = protocol.GatewayConfig(api_key="sk-x", base_url="https://gw.example.com/v4/ai/", team="t")
    request = protocol.build_config(config)
    assert (request.method, request.url, request.body) == ("GET", "https://gw.example.com/v4/ai/config", b"")
    assert request.headers["authorization"] == "Bearer sk-x"
    assert request.headers["ai-gateway-protocol-version"] == "0.0.1"
    assert request.headers["ai-gateway-auth-method"] == "api-key"
    assert request.headers["x-vercel-ai-gateway-team"] == "t"
    for absent in ("ai-model-id", "ai-video-model-specification-version", "content-type"):
        assert absent not in request.headers


def test_config_answer_is_read() -> None:
    answer = {
        "models": [
            {
                "id": "google/veo-3.1-generate-001",
                "name": "Veo 3.1",
                "description": "Latest model with audio",
                "pricing": {"input": "0", "output": "0.4"},
                "specification": {"specificationVersion": "v4", "provider": "vertex", "modelId": "veo"},
                "modelType": "video",
            },
            {
                "id": "openai/gpt-5",
                "name": "GPT-5",
                "description": None,
                "specification": {"specificationVersion": "v4", "provider": "openai", "modelId": "gpt-5"},
            },
        ]
    }
    veo, gpt = protocol.read_config(200, {}, json.dumps(answer).encode())
    assert veo == protocol.GatewayModel(
        id="google/veo-3.1-generate-001",
        name="Veo 3.1",
        description="Latest model with audio",
        model_type="video",
        provider="vertex",
    )
    assert veo.pricing == {"input": "0", "output": "0.4"}
    assert (gpt.description, gpt.model_type, gpt.pricing) == (None, None, None)


@pytest.mark.parametrize(
    ("status", "content", "error"),
    [
        (200, b"<html>hello</html>", protocol.GatewayProtocolError),
        (200, b'{"data": []}', protocol.GatewayProtocolError),
        (200, b'{"models": [{"name": "x"}]}', protocol.GatewayProtocolError),
        (
            401,
            b'{"error": {"message": "Invalid API key", "type": "authentication_error"}}',
            protocol.AuthenticationError,
        ),
        (404, b"Not Found", protocol.NotFoundError),
    ],
)
def test_config_answers_off_protocol_or_in_error(status: int, content: bytes, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        protocol.read_config(status, {}, content)
    assert info.value.status_code == status  # type: ignore[attr-defined]
