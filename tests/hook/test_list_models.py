"""The gateway's list of models (``GET {base}/config``) and the connection test built on it, against
the emulator in its own process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.families import BUILT_IN_FAMILIES
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.protocol import AuthenticationError, GatewayConfig, RetryPolicy
from tests.media import ImageHost

KEY = "sk-models-test-0123456789"
ALL_MODELS = [m for f in BUILT_IN_FAMILIES for m in f.models]


@pytest.fixture(scope="module")
def keyed_emulator() -> Iterator[EmulatorProcess]:
    """An emulator that accepts only :data:`KEY`."""
    with EmulatorProcess(api_key=KEY) as process:
        yield process


def hook_for(base_url: str, api_key: str = KEY) -> VideoGatewayHook:
    config = GatewayConfig(api_key=api_key, base_url=base_url, timeout=5)
    return VideoGatewayHook(config=config, retry_policy=RetryPolicy(max_retries=0))


def test_list_models_has_every_family_model(keyed_emulator: EmulatorProcess) -> None:
    models = hook_for(keyed_emulator.base_url).list_models()
    assert [m.id for m in models] == ALL_MODELS
    by_id = {m.id: m for m in models}
    for family in BUILT_IN_FAMILIES:
        for model_id, spec in family.models.items():
            assert by_id[model_id].description == spec.description
            assert by_id[model_id].model_type == "video"
            assert by_id[model_id].provider == family.provider_key
    assert hook_for(keyed_emulator.base_url).list_models(None) == models
    assert hook_for(keyed_emulator.base_url).list_models("image") == []


def test_list_models_with_a_wrong_key_raises(keyed_emulator: EmulatorProcess) -> None:
    with pytest.raises(AuthenticationError, match="Invalid API key"):
        hook_for(keyed_emulator.base_url, "wrong-key").list_models()


def test_connection_success_counts_the_video_models(keyed_emulator: EmulatorProcess) -> None:
    ok, message = hook_for(keyed_emulator.base_url).test_connection()
    assert ok, message
    assert (
        message == f"Connected to {keyed_emulator.base_url}: the gateway lists {len(ALL_MODELS)} video models"
    )


def test_connection_with_a_wrong_key(keyed_emulator: EmulatorProcess) -> None:
    ok, message = hook_for(keyed_emulator.base_url, "wrong-key").test_connection()
    assert not ok
    assert message == f"The gateway at {keyed_emulator.base_url} refused the API key: Invalid API key"


def test_connection_to_a_base_url_without_the_protocol_path(keyed_emulator: EmulatorProcess) -> None:
    ok, message = hook_for(keyed_emulator.root_url).test_connection()
    assert not ok
    assert message == (
        f"{keyed_emulator.root_url} does not answer like AI Gateway (GET /config: HTTP 404); "
        "the base URL must end in /v4/ai"
    )


def test_connection_to_a_web_page_that_is_not_json() -> None:
    host = ImageHost({"config": (b"<html><body>Welcome</body></html>", "text/html")}).start()
    try:
        base_url = host.url("").rstrip("/")
        ok, message = hook_for(base_url).test_connection()
    finally:
        host.stop()
    assert not ok
    assert message.startswith(f"{base_url} does not answer like AI Gateway (GET /config: HTTP 200, ")
    assert "not JSON" in message
    assert message.endswith("; the base URL must end in /v4/ai")


def test_connection_to_nothing() -> None:
    ok, message = hook_for("http://127.0.0.1:9/v4/ai").test_connection()
    assert not ok
    assert message.startswith("Cannot reach http://127.0.0.1:9/v4/ai: ConnectError")


def test_connection_without_a_key_makes_no_call(keyed_emulator: EmulatorProcess) -> None:
    before = keyed_emulator.stats()
    ok, message = VideoGatewayHook(
        "gw_no_key", config=GatewayConfig(api_key="", base_url=keyed_emulator.base_url)
    ).test_connection()
    assert not ok
    assert message.startswith("Connection 'gw_no_key' has no API key (password)")
    assert keyed_emulator.stats()["config_calls"] == before["config_calls"]


def test_connection_without_a_key_reads_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_GW_EMPTY", '{"conn_type": "ai_gateway", "host": "http://127.0.0.1:9/v4/ai"}'
    )
    ok, message = VideoGatewayHook("gw_empty").test_connection()
    assert not ok
    assert message.startswith("Connection 'gw_empty' has no API key (password)")
