"""Fixtures of the end-to-end tests: an emulator the ``ai_gateway_default`` connection points at."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_video_gen.emulator.process import EmulatorProcess
from tests.emulator.conftest import decode_mp4, image_host  # noqa: F401  (shared fixtures)

API_KEY = "sk-e2e-test-key-0123456789"


def point_connection_at(emulator: EmulatorProcess, conn_id: str = "AI_GATEWAY_DEFAULT") -> None:
    os.environ[f"AIRFLOW_CONN_{conn_id}"] = json.dumps(
        {"conn_type": "ai_gateway", "host": emulator.base_url, "password": API_KEY, "extra": {"timeout": 10}}
    )


@pytest.fixture(scope="session")
def emulator(airflow_home: Path) -> Iterator[EmulatorProcess]:
    """A fault-free emulator shared by the tests of this process."""
    with EmulatorProcess(latency=0.5) as emu:
        point_connection_at(emu)
        yield emu


@pytest.fixture
def faulty_emulator(airflow_home: Path, request: pytest.FixtureRequest) -> Iterator[EmulatorProcess]:
    """An emulator of its own for one test, with the faults the test's ``faults`` marker names."""
    marker = request.node.get_closest_marker("emulator")
    kwargs = dict(marker.kwargs) if marker else {}
    with EmulatorProcess(**kwargs) as emu:
        point_connection_at(emu, "AI_GATEWAY_FAULTY")
        yield emu
