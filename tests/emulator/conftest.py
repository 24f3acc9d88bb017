"""Fixtures of the emulator tests: the emulator in a subprocess, a loopback image host, an MP4 reader.

Everything goes over real HTTP on loopback; videos are decoded with PyAV.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from tests.media import fit_pad, fixture_b64, mean_diff

# ------------------------------------------------------------------------------------------ gateway


class Gateway:
    """A small client of an emulator's protocol endpoints, for tests."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        self.emulator = emulator
        self.http = httpx.Client(timeout=60.0)

    @property
    def base_url(self) -> str:
        return self.emulator.base_url

    def start(
        self, model: str, body: dict[str, Any], key: str | None = None, **headers: str
    ) -> httpx.Response:
        extra = {"idempotency-key": key} if key else {}
        return self.http.post(
            f"{self.base_url}/video-model/start",
            headers={**self.emulator.headers(model), **extra, **headers},
            json=body,
        )

    def status(self, model: str, operation: Any) -> httpx.Response:
        return self.http.post(
            f"{self.base_url}/video-model/status",
            headers=self.emulator.headers(model),
            json={"operation": operation},
        )

    def wait(self, model: str, operation: Any, timeout: float = 60.0) -> dict[str, Any]:
        """Poll until the job is no longer pending; retried over injected 5xx."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self.status(model, operation)
            if answer.status_code == 200:
                data: dict[str, Any] = answer.json()
                if data["status"] != "pending":
                    return data
            else:
                assert answer.status_code >= 500, answer.text
            time.sleep(0.05)
        raise AssertionError(f"job {operation} still pending after {timeout} s")

    def run(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        """Start and wait; the final status answer."""
        started = self.start(model, body)
        assert started.status_code == 200, started.text
        return self.wait(model, started.json()["operation"])

    def download(self, media: dict[str, Any]) -> bytes:
        if media["type"] == "base64":
            return base64.b64decode(media["data"])
        answer = self.http.get(media["url"])
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == media["mediaType"]
        return answer.content

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    """The shared emulator: any key, 0.3 s latency, URL results."""
    with EmulatorProcess(latency=0.3) as process:
        yield process


@pytest.fixture(scope="session")
def gateway(emulator: EmulatorProcess) -> Iterator[Gateway]:
    client = Gateway(emulator)
    yield client
    client.close()


@pytest.fixture
def gateway_for() -> Iterator[Callable[[EmulatorProcess], Gateway]]:
    """Clients for emulators a test starts itself."""
    made: list[Gateway] = []

    def make(process: EmulatorProcess) -> Gateway:
        made.append(Gateway(process))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture(scope="session")
def start_b64() -> str:
    return fixture_b64("start.png")


@pytest.fixture(scope="session")
def end_b64() -> str:
    return fixture_b64("end.png")


@pytest.fixture(scope="session")
def padded() -> Callable[[Image.Image, int, int], np.ndarray]:
    return fit_pad


@pytest.fixture(scope="session")
def frame_diff() -> Callable[[np.ndarray, np.ndarray], float]:
    return mean_diff
