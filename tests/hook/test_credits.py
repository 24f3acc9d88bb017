"""The team's credits (``GET {origin}/v1/credits``, the official client's ``getCredits()``), read by
the hook from the emulator in its own process, which draws its balance down per billed second."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.models import VideoRequest
from airflow_video_gen.protocol import (
    AuthenticationError,
    Credits,
    GatewayConfig,
    GatewayProtocolError,
    RetryPolicy,
    build_credits,
    read_credits,
)

KEY = "sk-credits-test-0123456789"
MODEL = "klingai/kling-v2.6-i2v"


@pytest.fixture(scope="module")
def gateway() -> Iterator[EmulatorProcess]:
    """An emulator with a balance of 1.00 at 0.05 per second of video."""
    extra = ["--credits", "1.00", "--price-per-second", "0.05"]
    with EmulatorProcess(api_key=KEY, latency=0.2, extra_args=extra) as process:
        yield process


def hook_for(base_url: str, api_key: str = KEY, team: str | None = None) -> VideoGatewayHook:
    config = GatewayConfig(api_key=api_key, base_url=base_url, timeout=5, team=team)
    return VideoGatewayHook(config=config, retry_policy=RetryPolicy(max_retries=0))


def body(png: bytes, duration: int, n: int = 1) -> dict[str, object]:
    call = {"prompt": {"image": png, "text": "The cat blinks"}, "duration": duration, "n": n}
    return VideoRequest.from_sdk_call(MODEL, call).to_gateway_body()


def test_the_balance_is_drawn_down_per_billed_second(gateway: EmulatorProcess, png_bytes: bytes) -> None:
    gateway.reset()
    hook = hook_for(gateway.base_url)
    assert hook.credits() == Credits(balance=Decimal("1.00"), total_used=Decimal("0"))

    hook.start(MODEL, body(png_bytes, 5), "credits-five")
    assert hook.credits() == Credits(balance=Decimal("0.75"), total_used=Decimal("0.25"))

    # The same key again is a replay: the job comes back and nothing is billed.
    hook.start(MODEL, body(png_bytes, 5), "credits-five")
    assert hook.credits() == Credits(balance=Decimal("0.75"), total_used=Decimal("0.25"))

    # Two videos of 10 s: 20 s billed, more than is left; the balance goes negative.
    hook.start(MODEL, body(png_bytes, 10, n=2), "credits-twenty")
    assert hook.credits() == Credits(balance=Decimal("-0.25"), total_used=Decimal("1.25"))
    assert gateway.stats()["seconds_billed"] == 25


def test_credits_are_read_at_the_origin_with_the_team_query(gateway: EmulatorProcess) -> None:
    gateway.reset()
    for team in ("team_abc123", "my-team"):
        assert hook_for(gateway.base_url, team=team).credits().balance == Decimal("1.00")
    assert gateway.stats()["credits_calls"] == 2
    config = GatewayConfig(api_key=KEY, base_url="https://ai-gateway.vercel.sh/v4/ai", team="team_abc123")
    request = build_credits(config)
    assert request.url == "https://ai-gateway.vercel.sh/v1/credits?teamId=team_abc123"
    assert request.headers["x-vercel-ai-gateway-team"] == "team_abc123"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    slug = build_credits(GatewayConfig(api_key=KEY, base_url="http://127.0.0.1:8090/v4/ai", team="my-team"))
    assert slug.url == "http://127.0.0.1:8090/v1/credits?slug=my-team"


def test_credits_with_a_wrong_key_raise_and_name_the_connection(gateway: EmulatorProcess) -> None:
    with pytest.raises(AuthenticationError, match="Invalid API key") as caught:
        hook_for(gateway.base_url, "wrong-key").credits()
    assert gateway.base_url in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [
        b'{"balance": "12.5"}',
        b'{"balance": "lots", "total_used": "0"}',
        b'{"balance": true, "total_used": "0"}',
    ],
)
def test_an_answer_without_decimal_credits_is_a_protocol_error(content: bytes) -> None:
    with pytest.raises(GatewayProtocolError, match="credits answer has no decimal"):
        read_credits(200, {}, content)


def test_credits_are_read_exactly_from_decimal_strings() -> None:
    got = read_credits(200, {}, b'{"balance": "0.10", "total_used": "1234567.89"}')
    assert got == Credits(balance=Decimal("0.10"), total_used=Decimal("1234567.89"))
