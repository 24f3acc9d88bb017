"""The documentation site: it builds strictly, and it covers every parameter and model of the seed.

The seed's parameter names and model ids come from the seed itself when it is beside the
repository, else from the checked-in copy ``tests/fixtures/seed_parameters.json`` (which must equal
the seed whenever both are present).
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_video_gen.families import FAMILIES
from docs.family_tables import (
    MARKER_RE,
    WAIT_KEYWORDS,
    expand_markers,
    operator_class_names,
    parameter_rows,
)
from tests.docs.seed import REPO_ROOT, SEED_PATH, fixture_data, seed_data

DOCS = REPO_ROOT / "docs"
FAMILY_PAGES = {name: DOCS / "families" / f"{name}.md" for name in FAMILIES}
_HOOKS_SPEC = "docs_hooks_under_test"


def _seed() -> dict[str, Any]:
    return seed_data() or fixture_data()


def _hook() -> Any:
    """``docs/hooks.py``, loaded the way MkDocs loads it (a file, not a package module)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(_HOOKS_SPEC, DOCS / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rendered(path: Path) -> str:
    """A page's markdown as the build sees it: through the hook."""
    page = SimpleNamespace(file=SimpleNamespace(src_uri=path.relative_to(DOCS).as_posix()))
    markdown: str = _hook().on_page_markdown(path.read_text(encoding="utf-8"), page, None, None)
    return markdown


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
    for html in site.rglob("*.html"):
        assert not MARKER_RE.search(html.read_text(encoding="utf-8")), f"unexpanded marker in {html}"
    assert not (site / "hooks.py").exists()


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
    page = _rendered(FAMILY_PAGES[family])
    missing = [name for name in _seed()["parameters"][family] if f"`{name}`" not in page]
    assert not missing, f"{FAMILY_PAGES[family].name} lacks {missing}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_seed_parameter_is_in_the_generated_table(family: str) -> None:
    paths = {row.path for row in parameter_rows(FAMILIES[family])}
    missing = [name for name in _seed()["parameters"][family] if name not in paths]
    assert not missing, f"the {family} parameter table lacks {missing}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_seed_model_id_is_in_the_docs(family: str) -> None:
    home = _rendered(DOCS / "index.md")
    page = _rendered(FAMILY_PAGES[family])
    for model in _seed()["models"][family]:
        assert f"`{model}`" in page, f"{model} not on {FAMILY_PAGES[family].name}"
        assert f"`{model}`" in home, f"{model} not on index.md"


def test_every_page_renders_and_its_tables_are_well_formed() -> None:
    for path in DOCS.rglob("*.md"):
        rendered = _rendered(path)
        assert not MARKER_RE.search(rendered), path
        table: int | None = None
        for line in rendered.splitlines():
            if not line.startswith("|"):
                table = None
                continue
            cells = len(re.findall(r"(?<!\\)\|", line)) - 1
            if table is None:
                table = cells
            assert cells == table, f"{path}: a row of {cells} cells in a table of {table}: {line[:120]}"


def test_an_unknown_marker_fails() -> None:
    with pytest.raises(ValueError, match="unknown family"):
        expand_markers("<!-- parameters:sora -->")
    with pytest.raises(ValueError, match="unknown marker"):
        expand_markers("<!-- parameter:kling -->")


# ------------------------------------------------------------------------------------------ tables


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
    assert set(WAIT_KEYWORDS) == set(submit._WAIT_OPTIONS)
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
        shadowed = name in submit.option_names(fam)
        assert top_level[wire].startswith("—" if shadowed else f"`{name}`"), (wire, top_level[wire])


# ------------------------------------------------------------------------------------------ examples


def _python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a page, tabbed ones dedented."""
    blocks = []
    for match in re.finditer(
        r"^(?P<indent>[ ]*)```python\n(?P<body>.*?)^(?P=indent)```", path.read_text(), re.M | re.S
    ):
        indent = len(match.group("indent"))
        blocks.append("\n".join(line[indent:] for line in match.group("body").splitlines()))
    return blocks


_EXAMPLE_PAGES = [
    "index.md",
    "quickstart.md",
    "requests.md",
    "operators.md",
    "s3.md",
    *(f"families/{name}.md" for name in FAMILIES),
]


@pytest.mark.parametrize("page", _EXAMPLE_PAGES)
def test_python_examples_are_valid(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each example runs as written: requests are checked, operators built (literal ones are
    checked at construction, as at DAG parse time). Nothing touches the network."""
    from airflow.sdk import DAG

    monkeypatch.chdir(REPO_ROOT / "tests" / "fixtures" / "images")  # start.png, end.png
    blocks = _python_blocks(DOCS / page)
    assert blocks, page
    for i, block in enumerate(blocks):
        with DAG(dag_id=f"docs_example_{i}", schedule=None):
            exec(compile(block, f"{page}[{i}]", "exec"), {"__name__": f"docs_example_{i}"})
