"""Callbacks: a start with ``callbackUrl`` gets a signing secret, and the job's end is POSTed to that
URL, signed, and retried until the receiver answers 2xx. A loopback receiver checks each delivery
with its own HMAC, not the provider's code."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.faults import FaultSpec, FaultSpecError
from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.protocol import read_start, verify_webhook

GROK = "xai/grok-imagine-video"
SIGNATURE = re.compile(r"^t=(\d+),v1=([0-9a-f]{64})$")


class Receiver:
    """A loopback HTTP server that records each POST and answers from a script of status codes
    (the last one repeats)."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.deliveries: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.deliveries.append(
                        {"at": time.time(), "path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    index = min(len(receiver.deliveries), len(receiver.answers)) - 1
                self.send_response(receiver.answers[index])
                self.send_header("content-length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def wait(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.deliveries) >= count:
                    return list(self.deliveries)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.deliveries)} deliveries after {timeout} s, expected {count}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver_for() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(answers: list[int]) -> Receiver:
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def body(image_url: str, callback: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt": "Blink",
        "n": 1,
        "duration": 1,
        "image": {"type": "url", "url": image_url},
    }
    if callback is not None:
        out["callbackUrl"] = callback
    return out


def signed_by(delivery: dict[str, Any], secret: str) -> int:
    """The delivery's signature timestamp, after checking its HMAC-SHA256 over ``"<t>.<body>"``."""
    found = SIGNATURE.match(delivery["headers"]["x-ai-gateway-signature"])
    assert found, delivery["headers"]
    stamp, digest = found.groups()
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + delivery["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(digest, expected)
    return int(stamp)


def test_a_callback_is_signed_retried_on_5xx_and_carries_terminal_facts_only(
    image_host: Any, gateway_for: Any, receiver_for: Any
) -> None:
    receiver = receiver_for([503, 500, 204])
    with EmulatorProcess(latency=0.3, extra_args=["--callback-backoff", "0.2"]) as emulator:
        gateway = gateway_for(emulator)
        started = gateway.start(GROK, body(image_host.url("start.png"), receiver.url("/hook?token=t1")))
        assert started.status_code == 200, started.text
        answer = started.json()
        secret = answer["providerMetadata"]["gateway"]["asyncJob"]["webhookSigningSecret"]
        job_id = answer["operation"]["gatewayJobId"]
        assert secret.startswith("whsec_")
        assert len(secret) > 30
        # The provider reads the secret out of the metadata, so metadata can travel without it.
        read = read_start(started.status_code, started.headers, started.content)
        assert read.webhook_signing_secret == secret
        assert secret not in json.dumps(read.provider_metadata)
        assert secret not in repr(read)

        deliveries = receiver.wait(3)
        jobs = emulator.jobs()
        final = gateway.wait(GROK, answer["operation"])

    assert final["status"] == "completed"
    assert [d["path"] for d in deliveries] == ["/hook?token=t1"] * 3
    first = deliveries[0]
    assert json.loads(first["body"]) == {
        "type": "video.generation.completed",
        "data": {"jobId": job_id, "status": "completed"},
    }
    for delivery in deliveries:
        assert delivery["body"] == first["body"]
        assert delivery["headers"]["x-ai-gateway-idempotency-key"] == f"{job_id}-completed"
        assert delivery["headers"]["content-type"] == "application/json"
        stamp = signed_by(delivery, secret)
        assert abs(stamp - delivery["at"]) < 5  # signed when sent, not when the job ended
        assert verify_webhook(delivery["headers"]["x-ai-gateway-signature"], delivery["body"], secret)
    # Another secret does not verify.
    assert not verify_webhook(first["headers"]["x-ai-gateway-signature"], first["body"], "whsec_other")
    # A doubling pause between tries: 0.2 s, then 0.4 s.
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(deliveries)]
    assert gaps[0] >= 0.18, gaps
    assert gaps[1] >= 0.38, gaps
    assert jobs[job_id]["callback"] == {"attempts": 3, "delivered": True, "dropped": False}
    assert jobs[job_id]["status_calls"] == 0  # the callback needs no status call


def test_a_failed_job_calls_back_failed_and_gives_up_after_its_attempts(
    image_host: Any, gateway_for: Any, receiver_for: Any
) -> None:
    receiver = receiver_for([500])
    args = ["--callback-backoff", "0.05", "--callback-attempts", "3"]
    with EmulatorProcess(latency=0.2, faults="job.error=1", extra_args=args) as emulator:
        gateway = gateway_for(emulator)
        answer = gateway.start(GROK, body(image_host.url("start.png"), receiver.url())).json()
        secret = answer["providerMetadata"]["gateway"]["asyncJob"]["webhookSigningSecret"]
        deliveries = receiver.wait(3)
        time.sleep(0.5)  # no fourth try
        stats = emulator.stats()
        jobs = emulator.jobs()
    assert len(receiver.deliveries) == 3
    job_id = answer["operation"]["gatewayJobId"]
    assert json.loads(deliveries[0]["body"]) == {
        "type": "video.generation.failed",
        "data": {"jobId": job_id, "status": "failed"},
    }
    assert all(signed_by(d, secret) for d in deliveries)
    assert jobs[job_id]["callback"] == {"attempts": 3, "delivered": False, "dropped": False}
    assert stats["callback_attempts"] == 3
    assert stats["callbacks_delivered"] == 0


def test_a_dropped_callback_is_never_sent_and_polling_still_finds_the_end(
    image_host: Any, gateway_for: Any, receiver_for: Any
) -> None:
    receiver = receiver_for([204])
    with EmulatorProcess(latency=0.2, faults="callback.drop=1") as emulator:
        gateway = gateway_for(emulator)
        answer = gateway.start(GROK, body(image_host.url("start.png"), receiver.url())).json()
        assert answer["providerMetadata"]["gateway"]["asyncJob"]["webhookSigningSecret"]
        final = gateway.wait(GROK, answer["operation"])
        time.sleep(0.5)
        stats = emulator.stats()
    assert final["status"] == "completed"
    assert receiver.deliveries == []
    assert stats["faults"]["callback.drop"] == 1
    assert stats["callbacks_dropped"] == 1
    assert stats["callback_attempts"] == 0


def test_no_callback_url_no_secret_and_a_bad_one_is_refused(image_host: Any, gateway: Any) -> None:
    plain = gateway.start(GROK, body(image_host.url("start.png"), None))
    assert plain.status_code == 200
    assert "webhookSigningSecret" not in plain.text
    assert plain.json()["warnings"] == []

    refused = gateway.start(GROK, body(image_host.url("start.png"), "ftp://example.com/hook"))
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["param"] == "callbackUrl"
    assert "absolute https URL" in error["message"]


def test_the_callback_fault_grammar() -> None:
    spec = FaultSpec.parse("callback.drop=0.25,seed=3")
    assert spec.callback_drop == 0.25
    assert bool(spec)
    assert FaultSpec.parse(spec.describe()) == spec
    with pytest.raises(FaultSpecError, match=r"callback\.drop"):
        FaultSpec.parse("callback.500=0.1")
    with pytest.raises(FaultSpecError, match="between 0 and 1"):
        FaultSpec.parse("callback.drop=2")
