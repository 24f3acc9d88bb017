"""Fault injection: the spec grammar, each fault kind seen on the wire, and repeatable draws."""

from __future__ import annotations

import time

import httpx
import pytest

from airflow_video_gen.devtools.emulator.faults import FaultInjector, FaultSpec, FaultSpecError
from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.protocol import SseDecoder, error_from_answer

GROK = "xai/grok-imagine-video"


def grok_body(image_url: str, prompt: str = "Blink") -> dict[str, object]:
    return {"prompt": prompt, "n": 1, "duration": 1, "image": {"type": "url", "url": image_url}}


# ------------------------------------------------------------------------------------------ grammar


def test_spec_grammar_expands_wildcards_and_reads_scalars():
    spec = FaultSpec.parse(
        "*.500=0.1, status.500=0.3,start.429=0.2,job.error=0.05,seed=7,retry_after=2,slow_s=0.5"
    )
    assert spec.rates[("status", "500")] == 0.3  # a named endpoint overrides *
    assert spec.rates[("start", "500")] == 0.1
    assert spec.rates[("files", "500")] == 0.1
    assert spec.rates[("start", "429")] == 0.2
    assert ("status", "429") not in spec.rates
    assert spec.job_rates == {"error": 0.05}
    assert (spec.seed, spec.retry_after, spec.slow_s) == (7, 2.0, 0.5)
    assert FaultSpec.parse(spec.describe()) == spec
    assert not FaultSpec.parse("")
    assert FaultSpec.parse("job.cancel=0.1")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("start.418=0.1", "unknown kind"),
        ("poll.500=0.1", "unknown endpoint"),
        ("status.500=1.5", "between 0 and 1"),
        ("status.500", "not target=value"),
        ("status.500=lots", "not a number"),
        ("status.500=0.6,status.503=0.6", "add up to"),
        ("job.error=0.7,job.cancel=0.7", "add up to"),
        ("job.explode=0.1", "job.error and job.cancel"),
        ("seed=1.5", "seed"),
        ("verbose=1", "unknown target"),
    ],
)
def test_spec_grammar_errors_name_the_item(text, fragment):
    with pytest.raises(FaultSpecError, match=fragment):
        FaultSpec.parse(text)


def test_draws_are_repeatable_per_seed_and_per_endpoint():
    spec = FaultSpec.parse("status.500=0.3,status.drop=0.2,start.429=0.5,job.error=0.3,job.cancel=0.2,seed=5")
    one, two = FaultInjector(spec), FaultInjector(spec)
    seq_one = [one.draw("status") for _ in range(200)]
    # Interleaving calls to another endpoint does not shift the status sequence.
    seq_two = []
    for _ in range(200):
        two.draw("start")
        seq_two.append(two.draw("status"))
    assert seq_one == seq_two
    assert 0.2 < seq_one.count("500") / 200 < 0.4
    assert 0.1 < seq_one.count("drop") / 200 < 0.3
    assert [one.draw_job() for _ in range(50)] == [two.draw_job() for _ in range(50)]
    other = FaultInjector(FaultSpec.parse("status.500=0.3,status.drop=0.2,seed=6"))
    assert [other.draw("status") for _ in range(200)] != seq_one
    assert one.draw("files") is None


def test_the_cli_refuses_a_bad_spec():
    with pytest.raises(RuntimeError, match="unknown endpoint"):
        EmulatorProcess(faults="poll.500=1").start()


# ------------------------------------------------------------------------------------------ on the wire


def test_http_faults_on_each_endpoint_bill_nothing(image_host):
    spec = "start.429=1,status.502=1,generate.503=1,files.500=1,retry_after=3"
    with EmulatorProcess(faults=spec) as emulator:
        headers = emulator.headers(GROK)
        start = httpx.post(f"{emulator.base_url}/video-model/start", headers=headers, json=grok_body("x"))
        assert start.status_code == 429
        assert start.headers["retry-after"] == "3"
        assert start.json()["error"]["type"] == "rate_limit_exceeded"
        error = error_from_answer(start.status_code, start.headers, start.content)
        assert error.retryable
        assert error.retry_after == 3

        status = httpx.post(
            f"{emulator.base_url}/video-model/status",
            headers=headers,
            json={"operation": {"gatewayJobId": "j"}},
        )
        assert status.status_code == 502
        assert "error" in status.json()

        generate = httpx.post(f"{emulator.base_url}/video-model", headers=headers, json=grok_body("x"))
        assert generate.status_code == 503
        assert "error" in generate.json()

        files = httpx.get(f"{emulator.root_url}/files/anything.mp4")
        assert files.status_code == 500
        assert files.json()["error"]["type"] == "internal_server_error"

        stats = emulator.stats()
    assert stats["faults"] == {"start.429": 1, "status.502": 1, "generate.503": 1, "files.500": 1}
    assert stats["starts_billed"] == stats["generations_billed"] == 0
    assert stats["start_calls"] == stats["polls_served"] == 0
    assert sum(stats["jobs"].values()) == 0


def test_dropped_connection_slow_answer_and_job_error(image_host, gateway_for):
    spec = "status.drop=1,start.slow=1,slow_s=1,job.error=1"
    with EmulatorProcess(faults=spec, latency=0.2) as emulator:
        gateway = gateway_for(emulator)
        began = time.monotonic()
        started = gateway.start(GROK, grok_body(image_host.url("start.png")))
        assert time.monotonic() - began >= 1.0
        assert started.status_code == 200, started.text  # slow, then the normal answer

        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            gateway.status(GROK, started.json()["operation"])

        # The synchronous endpoint ends a failed job with an error event.
        headers = {**emulator.headers(GROK), "accept": "text/event-stream"}
        body = {**grok_body(image_host.url("start.png")), "providerOptions": {}}
        decoder = SseDecoder()
        events = []
        with httpx.stream("POST", f"{emulator.base_url}/video-model", headers=headers, json=body) as answer:
            assert answer.status_code == 200
            for chunk in answer.iter_bytes():
                events += decoder.feed(chunk)
        [event] = events + decoder.close()
        assert event["type"] == "error"
        assert event["statusCode"] == 500
        assert event["errorType"] == "internal_server_error"
        assert "job.error" in event["message"]
        assert event["param"] is None

        time.sleep(0.3)
        stats = emulator.stats()
    assert stats["faults"]["status.drop"] == 1
    assert stats["faults"]["start.slow"] == 1
    assert stats["faults"]["job.error"] == 2
    assert stats["starts_billed"] == 1
    assert stats["jobs"]["error"] == 2
    assert stats["renders_done"] == 0


def test_a_lost_answer_bills_the_start_and_a_replay_with_the_same_key_bills_nothing_more(
    image_host, gateway_for
):
    with EmulatorProcess(faults="start.lost=1", latency=0.2) as emulator:
        gateway = gateway_for(emulator)
        body = grok_body(image_host.url("start.png"))
        for _ in range(2):  # the first try and its retry, both answered by a closed connection
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                gateway.start(GROK, body, key="avg_lost_once")
        stats = emulator.stats()
    assert stats["faults"] == {"start.lost": 2}
    assert stats["start_calls"] == 2
    assert stats["starts_billed"] == 1  # carried out once, the retry replayed it
    assert stats["idempotent_replays"] == 1
    assert sum(stats["jobs"].values()) == 1


def _observe(emulator: EmulatorProcess, image_url: str, calls: int, jobs: int) -> tuple[list[str], list[str]]:
    """What ``calls`` status calls and ``jobs`` jobs met: status codes (or ``drop``), final states."""
    headers = emulator.headers(GROK)
    seen: list[str] = []
    with httpx.Client(timeout=10) as client:
        for _ in range(calls):
            try:
                answer = client.post(
                    f"{emulator.base_url}/video-model/status",
                    headers=headers,
                    json={"operation": {"gatewayJobId": "job_unknown"}},
                )
                seen.append(str(answer.status_code))
            except (httpx.RemoteProtocolError, httpx.ReadError):
                seen.append("drop")
        operations = []
        for i in range(jobs):
            answer = client.post(
                f"{emulator.base_url}/video-model/start",
                headers=headers,
                json=grok_body(image_url, f"job {i}"),
            )
            assert answer.status_code == 200, answer.text
            operations.append(answer.json()["operation"])
        finals: list[str] = []
        for operation in operations:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    answer = client.post(
                        f"{emulator.base_url}/video-model/status",
                        headers=headers,
                        json={"operation": operation},
                    )
                except (httpx.RemoteProtocolError, httpx.ReadError):
                    continue
                if answer.status_code == 200 and answer.json()["status"] != "pending":
                    finals.append(answer.json()["status"])
                    break
                time.sleep(0.02)
    return seen, finals


@pytest.mark.slow
def test_same_seed_same_faults_across_runs(image_host):
    spec = "status.500=0.3,status.503=0.2,status.drop=0.1,job.error=0.4,job.cancel=0.3,seed=11"
    runs = []
    for _ in range(2):
        with EmulatorProcess(faults=spec, latency=0.1) as emulator:
            runs.append(_observe(emulator, image_host.url("start.png"), calls=30, jobs=6))
    assert runs[0] == runs[1]

    # And it is the sequence the spec's own draws predict.
    injector = FaultInjector(FaultSpec.parse(spec))
    predicted_calls = [injector.draw("status") or "404" for _ in range(30)]
    assert runs[0][0] == predicted_calls
    states = {"error": "error", "cancel": "cancelled", None: "completed"}
    assert runs[0][1] == [states[injector.draw_job()] for _ in range(6)]
    assert {"500", "503", "drop", "404"} <= set(runs[0][0])
    assert {"error", "cancelled"} <= set(runs[0][1])
