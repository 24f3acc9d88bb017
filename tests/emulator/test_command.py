"""``airflow-video-gen emulator``: the defaults its ``--help`` shows, and a port Airflow leaves free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airflow_video_gen.devtools.emulator.command import DEFAULT_PORT
from airflow_video_gen.devtools.emulator.process import EmulatorProcess

CLI = Path(sys.executable).with_name("airflow-video-gen")


def _airflow_default_ports() -> dict[str, int]:
    """Every ``*port`` option of Airflow's configuration (its providers' included), by default value."""
    from airflow.configuration import conf

    ports = {}
    for section, described in conf.configuration_description.items():
        for key, option in (described.get("options") or {}).items():
            default = str(option.get("default") or "")
            if key.endswith("port") and default.isdigit():
                ports[f"[{section}] {key}"] = int(default)
    return ports


def test_default_port_is_none_of_airflows() -> None:
    ports = _airflow_default_ports()
    assert ports["[api] port"] == 8080  # the port this emulator used to take by default
    taken = {name: port for name, port in ports.items() if port == DEFAULT_PORT}
    assert not taken, f"the emulator's default port {DEFAULT_PORT} is Airflow's {taken}"


def test_help_shows_the_defaults_a_new_user_meets() -> None:
    done = subprocess.run(
        [str(CLI), "emulator", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert f"--port PORT port to listen on; 0 picks a free one (default: {DEFAULT_PORT})" in text
    assert "--results {base64,url,uploaded}" in text
    assert "the official AI SDK client refuses to download from loopback and private addresses" in text
    assert "(default: base64)" in text


def test_a_port_another_emulator_holds_is_never_taken_for_ours() -> None:
    """The port is picked free, then bound by the new process: another emulator may hold it by then
    and answer the health check. Starting on a port another emulator holds must fail (its bind
    error), never return with the other one's address."""
    with EmulatorProcess(latency=1) as first:
        second = EmulatorProcess(latency=2, port=first.port)
        with pytest.raises(RuntimeError, match=r"(?i)address already in use"):
            second.start()
        assert second.pid is None
        assert first.stats()["starts_billed"] == 0
