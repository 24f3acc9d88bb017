"""What a task hears about its ``ai_gateway`` connection: no API key (refused before any call, in
workers and in the triggerer), a refused key, which base URL is used, and errors that name it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.hooks.gateway import VideoGatewayHook, close_shared_sessions
from airflow_video_gen.models import VideoRequest
from airflow_video_gen.protocol import (
    AuthenticationError,
    MissingApiKeyError,
    RetryPolicy,
    ServerError,
)
from airflow_video_gen.triggers.generation import VideoGenerationTrigger
from airflow_video_gen.waiting import finish_generation
from tests.sdk_reference.recording_server import RecordingGateway

MODEL = "klingai/kling-v2.6-i2v"
KEY = "sk-messages-test-0123456789"
NO_KEY_MESSAGE = (
    "Connection 'ai_gateway_team_b' has no API key: set its password (the \"API key\" field in the UI, "
    '"password" in AIRFLOW_CONN_AI_GATEWAY_TEAM_B), or point the task at another connection with '
    "gateway_conn_id="
)
SUBMISSION = {
    "model": MODEL,
    "family": "kling",
    "operation": {"gatewayJobId": "job-1"},
    "idempotency_key": "avg_messages",
    "submitted_at": time.time(),
}


@pytest.fixture(scope="module")
def keyed_emulator() -> Iterator[EmulatorProcess]:
    """An emulator that accepts only :data:`KEY`."""
    with EmulatorProcess(api_key=KEY) as process:
        yield process


@pytest.fixture
def gateway() -> Iterator[RecordingGateway]:
    with RecordingGateway() as gw:
        yield gw


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "ai_gateway", **fields}))
    return conn_id


def body() -> dict[str, Any]:
    call = {"prompt": {"image": "https://example.com/cat.png", "text": "The cat blinks"}, "duration": 5}
    return VideoRequest.from_sdk_call(MODEL, call).to_gateway_body()


# ------------------------------------------------------------------------------------ no API key


def test_no_api_key_is_refused_before_any_call_and_never_retried(
    gateway: RecordingGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = set_connection(monkeypatch, "ai_gateway_team_b", host=gateway.base_url)
    hook = VideoGatewayHook(conn_id, retry_policy=RetryPolicy(max_retries=3, base_delay=5))
    calls = [
        lambda: hook.start(MODEL, body(), "avg_k"),
        lambda: hook.status(MODEL, {"gatewayJobId": "job-1"}),
        lambda: hook.generate(MODEL, body()),
        lambda: hook.list_models(),
    ]
    for call in calls:
        began = time.monotonic()
        with pytest.raises(MissingApiKeyError) as info:
            call()
        assert str(info.value) == NO_KEY_MESSAGE
        assert not info.value.retryable
        assert time.monotonic() - began < 1  # no backoff: not a transient error
    assert gateway.requests == []
    assert hook.retries_made == 0


async def test_no_api_key_in_the_triggerer_ends_the_wait_with_the_same_message(
    gateway: RecordingGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = set_connection(monkeypatch, "ai_gateway_team_b", host=gateway.base_url)
    with pytest.raises(MissingApiKeyError, match="has no API key"):
        await VideoGatewayHook(conn_id).astatus(MODEL, {"gatewayJobId": "job-1"})
    trigger = VideoGenerationTrigger(
        model=MODEL,
        operation={"gatewayJobId": "job-1"},
        deadline=time.time() + 30,
        poll_interval=0.1,
        gateway_conn_id=conn_id,
    )
    event = await anext(aiter(trigger.run()))
    await close_shared_sessions()
    assert gateway.requests == []
    assert (event.payload["status"], event.payload["reason"]) == ("error", "missing_api_key")
    assert event.payload["message"] == NO_KEY_MESSAGE
    # The task resumes with it and fails for good, with the message alone.
    with pytest.raises(AirflowFailException) as failed:
        finish_generation(BaseOperator(task_id="wait", retries=3), SUBMISSION, event.payload)
    assert str(failed.value) == NO_KEY_MESSAGE


# ------------------------------------------------------------------------------------ a refused key


def test_a_refused_key_names_the_base_url_the_connection_and_where_the_key_is(
    keyed_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = set_connection(monkeypatch, "ai_gateway_wrong", host=keyed_emulator.base_url, password="wrong")
    hook = VideoGatewayHook(conn_id, retry_policy=RetryPolicy(max_retries=3, base_delay=5))
    with pytest.raises(AuthenticationError) as info:
        hook.start(MODEL, body(), "avg_k")
    assert str(info.value) == (
        f"AI Gateway 401 authentication_error: Invalid API key ({keyed_emulator.base_url}, connection "
        "ai_gateway_wrong); check the API key (password) of connection ai_gateway_wrong"
    )
    assert hook.retries_made == 0  # a 401 is not retried

    async def status() -> None:
        try:
            await VideoGatewayHook(conn_id).astatus(MODEL, {"gatewayJobId": "job-1"})
        finally:
            await close_shared_sessions()

    # Through the triggerer's transport, the same words.
    with pytest.raises(AuthenticationError) as async_info:
        asyncio.run(status())
    assert str(async_info.value) == str(info.value)


# ------------------------------------------------------------------------------------ the base URL


def test_the_base_url_in_use_is_logged_once_per_hook(
    gateway: RecordingGateway, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    conn_id = set_connection(monkeypatch, "ai_gateway_logged", host=gateway.base_url, password=KEY)
    capfd.readouterr()
    hook = VideoGatewayHook(conn_id)
    operation = hook.start(MODEL, body(), "avg_k").operation
    hook.status(MODEL, operation)
    log = "".join(capfd.readouterr())
    assert log.count("Using AI Gateway at") == 1
    assert f"Using AI Gateway at {gateway.base_url} (connection ai_gateway_logged)" in log
    assert KEY not in log


def test_an_empty_host_says_it_means_the_default_gateway(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # A URI connection with no host: easy to write by mistake, and it silently means production.
    monkeypatch.setenv("AIRFLOW_CONN_AI_GATEWAY_NO_HOST", f"ai-gateway://:{KEY}@")
    capfd.readouterr()
    config = VideoGatewayHook("ai_gateway_no_host").config
    assert config.base_url == "https://ai-gateway.vercel.sh/v4/ai"
    assert (
        "Using AI Gateway at https://ai-gateway.vercel.sh/v4/ai (connection ai_gateway_no_host) "
        "(the default: the connection has no host)"
    ) in "".join(capfd.readouterr())


def test_an_error_past_the_retries_names_the_base_url_and_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with RecordingGateway(failures={"status": [500, 500]}) as gw:
        base_url = gw.base_url
        conn_id = set_connection(monkeypatch, "ai_gateway_flaky", host=base_url, password=KEY)
        hook = VideoGatewayHook(conn_id, retry_policy=RetryPolicy(max_retries=1, base_delay=0.01))
        with pytest.raises(ServerError) as info:
            hook.status(MODEL, {"gatewayJobId": "job-1"})
    assert str(info.value) == (
        f"AI Gateway 500 internal_server_error: Injected 500 ({base_url}, connection ai_gateway_flaky)"
    )
