"""The ``airflow-video-gen`` command: check prints the wire body or every problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_video_gen.cli import COMMANDS, main


def test_check_prints_the_body_with_image_data_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    call = {"prompt": {"image": "tests/fixtures/images/start.png", "text": "hi"}, "duration": 5}
    assert main(["check", "klingai/kling-v2.6-i2v", json.dumps(call)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["duration"] == 5
    assert "data" not in body["image"]
    assert body["image"]["size"] > 0


def test_check_lists_every_problem_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    call = {
        "prompt": {"image": "https://x.io/a.png"},
        "duration": 7,
        "providerOptions": {"klingai": {"mode": "x"}},
    }
    assert main(["check", "klingai/kling-v2.6-i2v", json.dumps(call)]) == 1
    err = capsys.readouterr().err
    assert "duration: 7 s is not allowed" in err
    assert "providerOptions.klingai.mode" in err


def test_demo_refuses_to_run_without_the_flagship_dag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--dags", str(tmp_path), "--home", str(tmp_path / "home")]) == 2
    assert "image_to_video_pipeline.py not found" in capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_states_its_default_in_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    # One entry per option: its first line starts with "  -", wrapped lines are indented deeper.
    entries: list[str] = []
    for line in capsys.readouterr().out.split("options:\n", 1)[1].splitlines():
        if line.startswith("  -"):
            entries.append(line)
        elif entries:
            entries[-1] += " " + line.strip()
    for entry in entries:
        if not entry.strip().startswith("-h"):
            assert "(default" in entry, entry


def test_models_lists_the_video_models_of_the_connection(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_video_gen.devtools.emulator.process import EmulatorProcess
    from airflow_video_gen.families import BUILT_IN_FAMILIES

    with EmulatorProcess(api_key="sk-cli-models-0123456789") as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_AI_GATEWAY_DEFAULT", emulator.connection_json(timeout=10))
        assert main(["models"]) == 0
        lines = capsys.readouterr().out.splitlines()
        specs = {m: s for f in BUILT_IN_FAMILIES for m, s in f.models.items()}
        assert [line.split()[0] for line in lines] == list(specs)
        for line in lines:
            model_id, description = line.split(maxsplit=1)
            assert description == specs[model_id].description

        monkeypatch.setenv("AIRFLOW_CONN_GW_WRONG", emulator.connection_json("wrong-key", timeout=10))
        assert main(["models", "--conn-id", "gw_wrong"]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "Invalid API key" in captured.err
