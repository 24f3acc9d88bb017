"""Our wire bodies and headers equal what the official AI SDK client sent for every seed example.

The client's requests were captured once (``python -m tests.sdk_reference.capture``) and are
checked in under ``tests/fixtures/sdk_requests``; these tests need no node.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_video_gen import protocol
from airflow_video_gen.models import VideoRequest
from tests.sdk_reference.examples import EXAMPLES, VideoExample, materialize_call

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sdk_requests"
CONFIG = protocol.GatewayConfig(api_key="test-api-key", base_url="http://127.0.0.1:1/v4/ai")


def _node_buffers_to_base64(value: Any) -> Any:
    """The Node client serialises a Buffer inside providerOptions as ``{"type": "Buffer", "data":
    [bytes]}``, an artefact of JavaScript; the protocol sends raw base64 there."""
    if isinstance(value, dict):
        if value.get("type") == "Buffer" and isinstance(value.get("data"), list):
            return base64.b64encode(bytes(value["data"])).decode()
        return {k: _node_buffers_to_base64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_node_buffers_to_base64(v) for v in value]
    return value


def _capture(example: VideoExample) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{example['name']}.json").read_text())


def _sent(capture: dict[str, Any], call: str) -> dict[str, Any]:
    return next(r for r in capture["requests"] if r["call"] == call)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["name"] for e in EXAMPLES])
def test_body_equals_the_official_clients(example: VideoExample) -> None:
    request = VideoRequest.from_sdk_call(example["model"], materialize_call(example))
    body = request.to_gateway_body()
    capture = _capture(example)
    for call in ("start", "generate"):
        sent = _sent(capture, call)
        assert body == _node_buffers_to_base64(sent["body"])
        assert list(body) == sent["bodyKeys"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["name"] for e in EXAMPLES])
def test_headers_equal_the_official_clients(example: VideoExample) -> None:
    request = VideoRequest.from_sdk_call(example["model"], materialize_call(example))
    capture = _capture(example)
    built = {
        "start": protocol.build_start(CONFIG, request.model, request.to_gateway_body(), "avg_key"),
        "status": protocol.build_status(CONFIG, request.model, {"gatewayJobId": "job_1"}),
        "generate": protocol.build_generate(CONFIG, request.model, request.to_gateway_body()),
    }
    for call, ours in built.items():
        theirs = dict(_sent(capture, call)["headers"])
        mine = dict(ours.headers)
        # The user agent names the client; the key's value is minted per start.
        assert mine.pop("user-agent").startswith("airflow-video-gen/")
        theirs.pop("user-agent")
        assert ("idempotency-key" in mine) == ("idempotency-key" in theirs) == (call == "start")
        mine.pop("idempotency-key", None)
        theirs.pop("idempotency-key", None)
        assert mine == theirs, call


def test_status_body_is_the_operation_unchanged() -> None:
    capture = _capture(EXAMPLES[0])
    sent = _sent(capture, "status")
    ours = protocol.build_status(CONFIG, EXAMPLES[0]["model"], sent["body"]["operation"])
    assert json.loads(ours.body) == sent["body"]
