"""The quickstart, copied from top to bottom: its shell blocks run exactly as written (the harness
of :mod:`tests.docs.samples`: a new working directory standing for a checkout, bash -e, the
project's ``.venv/bin`` first on ``PATH``), and the reader ends with the MP4 the DAG asked for."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.docs import samples as harness
from tests.media import Mp4

QUICKSTART = harness.REPO_ROOT / "docs" / "quickstart.md"


def _dag_file() -> str:
    """The DAG file the quickstart writes with a heredoc."""
    [block] = [s for s in harness.samples(QUICKSTART) if s.runs and "dag_id=" in s.source]
    found = re.search(r"<<'EOF'\n(?P<body>.*?)^EOF$", block.source, re.MULTILINE | re.DOTALL)
    assert found, block.where
    return found.group("body")


def _asked_duration(dag_source: str) -> int:
    found = re.findall(r"^\s*duration=(\d+),", dag_source, re.MULTILINE)
    assert len(found) == 1, f"the quickstart DAG should ask for one duration, found {found}"
    return int(found[0])


@pytest.mark.slow
@pytest.mark.xdist_group("airflow")
@pytest.mark.timeout(600)
def test_the_quickstart_ends_with_the_video_it_asked_for(
    tmp_path: Path, decode_mp4: Callable[..., Mp4]
) -> None:
    page = harness.samples(QUICKSTART)
    seconds = _asked_duration(_dag_file())
    checkout = harness.new_checkout_dir(tmp_path / "checkout")

    # Section 2 sets an AIRFLOW_HOME of its own; this one is the reader's default, which only
    # `airflow providers list` of section 1 sees.
    run = harness.run_shell(page, cwd=checkout, airflow_home=tmp_path / "default-home", timeout=480)

    assert run.returncode == 0, run.explain()
    assert not run.leftovers, f"the page stops what it started (kill %1 %2), yet left {run.leftovers}"
    videos = sorted((checkout / "out").glob("*.mp4"))
    assert [v.name for v in videos] == ["video-0.mp4"], run.explain()
    mp4 = decode_mp4(videos[0].read_bytes())
    assert mp4.duration == pytest.approx(seconds, abs=0.05)
    assert (mp4.width, mp4.height) == (1280, 720)
    # What the page says the reader sees.
    assert f"out/video-0.mp4: {seconds:.1f} s, 1280x720" in run.output
    assert f"It prints `out/video-0.mp4: {seconds:.1f} s, 1280x720`" in QUICKSTART.read_text(encoding="utf-8")
    assert (checkout / "out" / "video-0-contact.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"quickstart: {run.seconds:.0f} s")


def test_a_wrong_duration_in_the_quickstart_dag_fails_at_parse_time(tmp_path: Path) -> None:
    """What the page promises: the request is checked when the DAG file is parsed, and the error
    names the parameter, the model and what is allowed."""
    from airflow.dag_processing.dagbag import DagBag

    source = _dag_file()
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "cat.png").write_bytes((harness.REPO_ROOT / "dags" / "sample_images" / "cat.png").read_bytes())
    (dags / "quickstart.py").write_text(source, encoding="utf-8")
    assert "quickstart" in DagBag(dag_folder=str(dags)).dags

    (dags / "quickstart.py").write_text(source.replace("duration=4,", "duration=13,"), encoding="utf-8")
    bag = DagBag(dag_folder=str(dags))
    [error] = bag.import_errors.values()
    assert "duration" in error
    assert "bytedance/seedance-v1.0-pro-fast" in error
    assert "2 to 12" in error
    assert "duration=13" in QUICKSTART.read_text(encoding="utf-8")
