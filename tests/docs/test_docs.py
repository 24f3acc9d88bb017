"""The documentation site: it builds strictly, its committed family tables are current, and it
covers every parameter and model of the seed.

The seed's parameter names and model ids come from the seed itself when it is beside the
repository, else from the checked-in copy ``tests/fixtures/seed_parameters.json`` (which must equal
the seed whenever both are present).
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_video_gen.families import BUILT_IN_FAMILIES
from airflow_video_gen.families.base import ProviderOptions
from docs.family_tables import BLOCK_RE, fill, main, operator_class_names, parameter_rows
from tests.docs.seed import REPO_ROOT, SEED_PATH, fixture_data, seed_data

DOCS = REPO_ROOT / "docs"
#: The families the docs cover: the built-in ones (a test may register a toy family).
FAMILIES = {f.name: f for f in BUILT_IN_FAMILIES}
FAMILY_PAGES = {name: DOCS / "families" / f"{name}.md" for name in FAMILIES}


def _seed() -> dict[str, Any]:
    return seed_data() or fixture_data()


def _page(path: Path) -> str:
    """A page as committed: its tables are in the Markdown."""
    return path.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------ build


@pytest.mark.slow
def test_mkdocs_build_is_strictly_clean(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    kling = (site / "families" / "kling" / "index.html").read_text(encoding="utf-8")
    assert "providerOptions.klingai.cfgScale" in kling
    assert "cfg_scale" in kling
    assert not list(site.rglob("*.py")), "the generator is not part of the site"


# ------------------------------------------------------------------------------------------ tables


def test_the_committed_tables_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0, f"run `make docs-tables`:{capsys.readouterr().err}"


def test_a_table_edited_by_hand_is_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    kling = docs / "families" / "kling.md"
    text = kling.read_text(encoding="utf-8")
    kling.write_text(text.replace("| 0 to 1 |", "| 0 to 2 |", 1), encoding="utf-8")
    assert kling.read_text(encoding="utf-8") != text

    assert main(["--check", "--docs-dir", str(docs)]) == 1
    assert "families/kling.md" in capsys.readouterr().err
    assert kling.read_text(encoding="utf-8") != text, "--check changes nothing"

    assert main(["--docs-dir", str(docs)]) == 0
    assert kling.read_text(encoding="utf-8") == text
    assert main(["--check", "--docs-dir", str(docs)]) == 0


def test_every_marker_pair_holds_a_table() -> None:
    pairs = [m for path in DOCS.rglob("*.md") for m in BLOCK_RE.finditer(_page(path))]
    kinds = {(m.group("kind"), m.group("name")) for m in pairs}
    assert {("models", "all"), ("families", "all")} <= kinds
    for name in FAMILIES:
        assert {(kind, name) for kind in ("parameters", "models", "facts", "notes")} <= kinds
    assert all(m.group(0).count("\n") > 3 for m in pairs)


# ------------------------------------------------------------------------------------------ seed


def test_fixture_equals_the_seed() -> None:
    seed = seed_data()
    if seed is None:
        pytest.skip(f"the seed is not beside the repository ({SEED_PATH.name}); the fixture stands in")
    assert fixture_data() == seed, "regenerate the fixture: python -m tests.docs.seed"


def test_the_seed_lists_every_family() -> None:
    data = _seed()
    for kind in ("parameters", "models"):
        assert set(data[kind]) == set(FAMILIES)
        assert all(data[kind][name] for name in FAMILIES), kind


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_seed_parameter_is_on_its_family_page(family: str) -> None:
    page = _page(FAMILY_PAGES[family])
    missing = [name for name in _seed()["parameters"][family] if f"`{name}`" not in page]
    assert not missing, f"{FAMILY_PAGES[family].name} lacks {missing}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_seed_parameter_is_in_the_generated_table(family: str) -> None:
    paths = {row.path for row in parameter_rows(FAMILIES[family])}
    missing = [name for name in _seed()["parameters"][family] if name not in paths]
    assert not missing, f"the {family} parameter table lacks {missing}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_seed_model_id_is_in_the_docs(family: str) -> None:
    home = _page(DOCS / "index.md")
    page = _page(FAMILY_PAGES[family])
    for model in _seed()["models"][family]:
        assert f"`{model}`" in page, f"{model} not on {FAMILY_PAGES[family].name}"
        assert f"`{model}`" in home, f"{model} not on index.md"


def test_every_page_s_tables_are_well_formed() -> None:
    for path in DOCS.rglob("*.md"):
        table: int | None = None
        for line in _page(path).splitlines():
            if not line.startswith("|"):
                table = None
                continue
            cells = len(re.findall(r"(?<!\\)\|", line)) - 1
            if table is None:
                table = cells
            assert cells == table, f"{path}: a row of {cells} cells in a table of {table}: {line[:120]}"


def test_an_unknown_or_unpaired_marker_fails() -> None:
    with pytest.raises(ValueError, match="unknown family"):
        fill("<!-- parameters:sora -->\n<!-- /parameters:sora -->")
    with pytest.raises(ValueError, match="unknown marker kind"):
        fill("<!-- parameter:kling -->\n<!-- /parameter:kling -->")
    with pytest.raises(ValueError, match="unpaired marker"):
        fill("<!-- parameters:kling -->\n")
    assert "`providerOptions.klingai.cfgScale`" in fill(
        "<!-- parameters:kling -->\n<!-- /parameters:kling -->"
    )


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_option_field_has_a_row(family: str) -> None:
    fam = FAMILIES[family]
    paths = {row.path for row in parameter_rows(fam)}
    for wire in fam.option_fields():
        assert f"providerOptions.{fam.provider_key}.{wire}" in paths


@pytest.mark.parametrize("family", list(FAMILIES))
def test_keywords_are_the_operators_own(family: str) -> None:
    from airflow_video_gen.operators import submit
    from airflow_video_gen.sensors import generation

    fam = FAMILIES[family]
    operator_name, sensor_name = operator_class_names(fam)
    operator = getattr(submit, operator_name)
    assert operator.family is fam
    assert getattr(generation, sensor_name).family is fam
    assert not set(ProviderOptions.WAIT_OPTIONS) & set(fam.keywords())
    accepted = set(inspect.signature(operator.__init__).parameters) | set(
        inspect.signature(submit.BaseVideoSubmitOperator.__init__).parameters
    )
    for row in parameter_rows(fam):
        keyword = re.match(r"`([a-z_]+)", row.keyword)
        if keyword is None:  # a top-level setting whose keyword is taken by a provider option
            assert row.keyword.startswith("—"), row
            continue
        assert keyword.group(1) in accepted, (
            f"{row.path}: {keyword.group(1)} is not a keyword of {operator_name}"
        )
    top_level = {row.path: row.keyword for row in parameter_rows(fam) if "." not in row.path}
    for name, wire in submit.TOP_LEVEL.items():
        shadowed = name in fam.keywords()
        assert top_level[wire].startswith("—" if shadowed else f"`{name}`"), (wire, top_level[wire])
