"""The ``airflow-video-gen`` command: check prints the wire body or every problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_video_gen.cli import main


def test_check_prints_the_body_with_image_data_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    call = {"prompt": {"image": "tests/fixtures/images/start.png", "text": "hi"}, "duration": 5}
    assert main(["check", "klingai/kling-v2.6-i2v", json.dumps(call)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["duration"] == 5
    assert body["image"]["data"].endswith("bytes>")


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
