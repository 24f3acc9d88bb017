"""The package is an Airflow provider: entry point, provider info, connection type, CLI listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import airflow_video_gen
from airflow_video_gen.hooks.gateway import VideoGatewayHook


def test_entry_point_returns_provider_info() -> None:
    (ep,) = [
        e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_video_gen")
    ]
    info = ep.load()()
    assert info["package-name"] == "airflow-video-gen"
    assert info["versions"] == [airflow_video_gen.__version__]
    (conn,) = info["connection-types"]
    assert conn["connection-type"] == VideoGatewayHook.conn_type == "ai_gateway"
    assert conn["hook-class-name"] == "airflow_video_gen.hooks.gateway.VideoGatewayHook"
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for group in info[kind]:
            for module in group["python-modules"]:
                __import__(module)


def test_ui_fields_match_between_provider_info_and_hook() -> None:
    behaviour = VideoGatewayHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == ["schema", "login", "port"]
    assert behaviour["relabeling"] == {"host": "Base URL", "password": "API key"}


@pytest.mark.slow
def test_airflow_providers_list_shows_the_provider(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    airflow = Path(sys.executable).with_name("airflow")
    out = subprocess.run(
        [str(airflow), "providers", "list", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    listed = {p["package_name"]: p for p in json.loads(out.stdout[out.stdout.index("[") :])}
    assert "airflow-video-gen" in listed
    hooks = subprocess.run(
        [str(airflow), "providers", "hooks", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert "ai_gateway" in hooks.stdout


def test_connection_from_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv(
        "AIRFLOW_CONN_AI_GATEWAY_DEFAULT",
        json.dumps(
            {
                "conn_type": "ai_gateway",
                "host": "http://127.0.0.1:8080/v4/ai",
                "password": "sk-env-0123456789",
                "extra": {"team": "t1", "timeout": 5, "verify": "false"},
            }
        ),
    )
    config = VideoGatewayHook().config
    assert (config.base_url, config.api_key, config.team, config.timeout, config.verify) == (
        "http://127.0.0.1:8080/v4/ai",
        "sk-env-0123456789",
        "t1",
        5.0,
        False,
    )


def test_connection_uri_form_builds_the_base_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_GW", "ai-gateway://:sk-uri-0123456789@gw.example.com/v4/ai?team=t2")
    config = VideoGatewayHook("gw").config
    assert config.base_url == "https://gw.example.com/v4/ai"
    assert config.team == "t2"


_PLUGINS_SEEN = """
import json
from airflow import plugins_manager
from airflow.sdk import plugins_manager as sdk_plugins

core, errors = plugins_manager._get_plugins()
sdk, _ = sdk_plugins._get_plugins()
print(json.dumps({
    "core": [p.name for p in core],
    "sdk": [p.name for p in sdk],
    "errors": errors,
}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("lazy", ["True", "False"])
def test_plugins_load_once_whether_providers_are_discovered_lazily_or_not(tmp_path: Path, lazy: str) -> None:
    """Each plugin is registered once, by its entry point: listed in the provider info too, it was
    met twice when providers are discovered eagerly, an import error in the UI, and the Task SDK's
    loader stopped at it, dropping every provider plugin after it (OpenLineage's listener)."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": lazy,
    }
    out = subprocess.run(
        [sys.executable, "-c", _PLUGINS_SEEN], env=env, capture_output=True, text=True, timeout=240
    )
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    ours = {"video_gallery", "video_gen_callbacks"}
    # Other providers may list theirs twice (OpenLineage does); ours are listed once.
    assert not [name for name in seen["errors"] if any(plugin in name for plugin in ours)], seen["errors"]
    for loader in ("core", "sdk"):
        names = seen[loader]
        assert len(names) == len(set(names)), names
        assert ours | {"OpenLineageProviderPlugin"} <= set(names), (loader, names)
