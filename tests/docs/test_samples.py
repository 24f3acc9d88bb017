"""Every Python and shell sample of README.md and docs/ runs as written (the harness and its rules
are in :mod:`tests.docs.samples`); the quickstart has its own test (``test_quickstart.py``)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from tests.docs import samples as harness
from tests.docs.samples import REPO_ROOT, Sample

ALL, MARKER_ERRORS = harness.all_samples()
QUICKSTART = "docs/quickstart.md"


def _pages(kind: str, *, skip: tuple[str, ...] = ()) -> list[str]:
    found = {s.page for s in ALL if s.kind == kind and s.runs and s.page not in skip}
    return sorted(found, key=lambda page: (page != "README.md", page))


@pytest.fixture(scope="module")
def migrated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``AIRFLOW_HOME`` with a migrated database, copied for each page."""
    home = tmp_path_factory.mktemp("airflow-home-template")
    harness.migrate_airflow_home(home)
    return home


def fresh_home(template: Path, where: Path) -> Path:
    import shutil

    shutil.copytree(template, where)
    return where


# ----------------------------------------------------------------------------------------- markers


def test_every_page_is_read() -> None:
    pages = {harness.page_name(path) for path in harness.pages()}
    assert {"README.md", QUICKSTART, "docs/index.md", "docs/families/kling.md"} <= pages
    assert {s.page for s in ALL} <= pages
    assert any(s.kind == "python" for s in ALL)
    assert any(s.kind == "shell" for s in ALL)


@pytest.mark.parametrize("sample", [s for s in ALL if s.marker == "not-run"], ids=lambda s: s.where)
def test_not_run(sample: Sample) -> None:
    """One skipped test per block that is not run, so that each shows with its reason (``-rs``)."""
    assert sample.reason, sample.where
    pytest.skip(f"not run: {sample.reason}")


def test_every_marker_of_the_docs_is_well_placed() -> None:
    assert not MARKER_ERRORS, "\n".join(MARKER_ERRORS.values())


def test_a_marker_says_why_and_sits_on_a_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Text\n\n<!-- not-run:  -->\n```bash\nmake test\n```\n", encoding="utf-8")
    with pytest.raises(harness.MarkerError, match=r"page.md:3: <!-- not-run: --> needs a reason"):
        harness.samples(page)
    page.write_text("<!-- not-run: Docker -->\n\n```bash\ndocker run x\n```\n", encoding="utf-8")
    with pytest.raises(harness.MarkerError, match=r"page.md:1: .* must be on the line right before"):
        harness.samples(page)
    page.write_text("<!-- setup: make test -->\nText\n```bash\npip install x\n```\n", encoding="utf-8")
    with pytest.raises(harness.MarkerError, match="right before the opening fence of a code block"):
        harness.samples(page)
    page.write_text("<!-- not-run: JavaScript -->\n```js\nconsole.log(1)\n```\n", encoding="utf-8")
    assert harness.samples(page) == []
    # Indented like its fence (a tab, an admonition) is fine.
    page.write_text('=== "Bash"\n\n    <!-- not-run: Docker -->\n    ```bash\n    docker run x\n    ```\n')
    [sample] = harness.samples(page)
    assert (sample.marker, sample.reason, sample.source, sample.line) == (
        "not-run",
        "Docker",
        "docker run x\n",
        4,
    )


def test_setup_blocks_only_install() -> None:
    setup = [s for s in ALL if s.marker == "setup"]
    for sample in setup:
        assert not harness.setup_violations(sample), (
            f"{sample.where}: a <!-- setup: --> block may only install (python -m venv, pip install, "
            f"activate, make venv); it also runs {harness.setup_violations(sample)}"
        )


def test_install_commands_are_marked_setup() -> None:
    """A test never installs into .venv: an install command must sit in a ``setup`` block."""
    unmarked = [
        (s.where, line) for s in ALL if s.runs and s.kind == "shell" for line in harness.install_lines(s)
    ]
    assert not unmarked, f"mark these blocks <!-- setup: installed by make test -->: {unmarked}"


def test_the_setup_rule_itself() -> None:
    def sample(source: str) -> Sample:
        return Sample("page.md", 1, "bash", source, "setup", "make test")

    ok = 'python3 -m venv .venv\nsource .venv/bin/activate\npip install "airflow-video-gen[demo]" \\\n  -c c.txt\n'
    assert harness.setup_violations(sample(ok)) == []
    assert harness.setup_violations(sample("pip install x\nairflow db migrate\n")) == ["airflow db migrate"]
    assert harness.install_lines(sample("export A=1\n.venv/bin/pip install x\n")) == [
        ".venv/bin/pip install x"
    ]
    assert harness.install_lines(sample("airflow providers list | grep pip\n")) == []


# ------------------------------------------------------------------------------------------ Python


@pytest.mark.parametrize("page", _pages("python"))
def test_python_samples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's Python blocks run in order in one namespace; every DAG they build parses."""
    monkeypatch.chdir(harness.new_checkout_dir(tmp_path / "checkout"))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, harness.CLOSED_PROXY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
    ran = harness.run_python(REPO_ROOT / page)
    assert ran, page


def test_python_samples_share_a_namespace_and_fail_with_the_page_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        textwrap.dedent(
            """\
            ```python
            from airflow_video_gen.operators.submit import KlingSubmitOperator
            text = "The cat blinks"
            ```

            ```py
            ok = KlingSubmitOperator(task_id="submit", image="https://example.com/cat.png", text=text)
            ```

            ```python
            bad = KlingSubmitOperator(task_id="submit", image="https://example.com/cat.png", duration=7)
            ```
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(Exception, match="duration") as failed:
        harness.run_python(page)
    assert any(entry.path == page and entry.lineno + 1 == 11 for entry in failed.traceback)


# ------------------------------------------------------------------------------------------- shell


@pytest.mark.slow
@pytest.mark.xdist_group("airflow")
@pytest.mark.parametrize("page", _pages("shell", skip=(QUICKSTART,)))
def test_shell_samples_run(page: str, tmp_path: Path, migrated_home: Path) -> None:
    """The page's shell blocks run in order as one bash -e session; every process they started is
    stopped at the end."""
    run = harness.run_shell(
        harness.samples(REPO_ROOT / page),
        cwd=harness.new_checkout_dir(tmp_path / "checkout"),
        airflow_home=fresh_home(migrated_home, tmp_path / "airflow-home"),
    )
    assert run.returncode == 0, run.explain()


def test_a_failing_block_fails_and_every_process_is_stopped(tmp_path: Path, migrated_home: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        textwrap.dedent(
            """\
            ```bash
            sleep 600 &
            echo $! > sleeper.pid
            export GREETING=hello
            ```

            ```console
            $ echo "$GREETING from $(basename "$PWD")" > said.txt
            hello from checkout
            $ echo "$AIRFLOW_HOME" > home.txt
            ```

            ```sh
            command -v airflow-video-gen > where.txt
            false
            echo never
            ```
            """
        ),
        encoding="utf-8",
    )
    checkout = harness.new_checkout_dir(tmp_path / "checkout")
    home = fresh_home(migrated_home, tmp_path / "airflow-home")
    run = harness.run_shell(harness.samples(page), cwd=checkout, airflow_home=home, timeout=60)

    assert run.returncode != 0
    assert run.failed == f"block {harness.page_name(page)}:13, line 15: false", run.failed
    assert "never" not in run.output
    assert (checkout / "said.txt").read_text() == "hello from checkout\n"
    assert (checkout / "home.txt").read_text().strip() == str(home)
    assert (checkout / "where.txt").read_text().strip() == str(harness.VENV_BIN / "airflow-video-gen")
    assert (checkout / "dags" / "sample_images" / "cat.png").is_file()
    assert any("sleep 600" in name for name in run.leftovers), run.leftovers
    sleeper = int((checkout / "sleeper.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(sleeper, 0)
