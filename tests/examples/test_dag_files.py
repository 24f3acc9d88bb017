"""Every DAG file in ``dags/`` imports cleanly, says what it shows, and checks its requests when
parsed."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.examples.conftest import DAGS

EXAMPLES = {
    "example_veo_audio_crop",
    "example_kling_first_last_frame",
    "example_kling_camera_control",
    "example_kling_motion_brush",
    "example_kling_multi_shot",
    "example_kling_voices",
    "example_wan_audio",
    "example_grok_aspect_ratio",
    "example_seedance_first_last_frame",
    "example_seedance_multi_reference",
    "example_seedance_clip_chain",
}
DAG_FILES = sorted(DAGS.glob("*.py"))


@pytest.fixture(scope="module")
def dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_every_dag_file_imports(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) >= EXAMPLES | {"image_to_video_pipeline"}
    # Every file defines a DAG.
    assert {Path(d.fileloc).resolve() for d in dagbag.dags.values()} == {p.resolve() for p in DAG_FILES}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_every_dag_file_has_a_docstring_and_tags(dagbag: Any, path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring
    assert len(docstring.splitlines()[0]) > 20
    (dag,) = [d for d in dagbag.dags.values() if Path(d.fileloc).resolve() == path.resolve()]
    assert dag.tags
    assert "airflow-video-gen" in dag.tags


@pytest.mark.parametrize("dag_id", sorted(EXAMPLES))
def test_examples_are_unscheduled_tagged_and_documented(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert set(dag.tags) == {"airflow-video-gen", "example"}
    assert dag.schedule is None
    assert dag.doc_md.strip() == ast.get_docstring(ast.parse((DAGS / f"{dag_id}.py").read_text()))
    tree = ast.parse((DAGS / f"{dag_id}.py").read_text())
    in_fstrings = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    strings = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in in_fstrings
    ]
    assert not [s for s in strings if s.startswith(("/", "~"))], "sample images are found next to the file"
    archives = [t for t in dag.tasks if type(t).__name__ == "ArchiveVideoOperator"]
    assert archives
    assert all(t.dest_s3_uri == f"s3://airflow-video-gen/examples/{dag_id}/" for t in archives)


@pytest.mark.parametrize(
    ("dag_id", "literal", "broken", "message"),
    [
        ("example_wan_audio", "duration=3,", "duration=30,", "duration: 30 s is not allowed"),
        (
            "example_grok_aspect_ratio",
            'resolution="720p"',
            'resolution="1080p"',
            "providerOptions.xai.resolution",
        ),
        (
            "example_kling_camera_control",
            '"horizontal": 0',
            '"horizontal": 3',
            "'simple' moves exactly one axis",
        ),
        ("example_kling_voices", '    sound="on",', '    sound="off",', "requires sound: 'on'"),
        ("example_seedance_first_last_frame", '"1:1"', '"5:4"', "aspectRatio: '5:4' is not allowed"),
        (
            "example_seedance_multi_reference",
            'MODEL = "bytedance/seedance-v1.0-lite-i2v"',
            'MODEL = "bytedance/seedance-v1.0-pro"',
            "referenceImages is not supported by bytedance/seedance-v1.0-pro",
        ),
    ],
)
def test_requests_are_checked_when_the_file_is_parsed(
    tmp_path: Path, dag_id: str, literal: str, broken: str, message: str
) -> None:
    """A broken copy of an example fails to import, naming the parameter: no run, no paid call."""
    from airflow.dag_processing.dagbag import DagBag

    source = (DAGS / f"{dag_id}.py").read_text()
    assert literal in source
    (tmp_path / f"{dag_id}.py").write_text(source.replace(literal, broken, 1))
    shutil.copytree(DAGS / "sample_images", tmp_path / "sample_images")
    bag = DagBag(dag_folder=str(tmp_path))
    (error,) = bag.import_errors.values()
    assert message in error


def test_the_examples_page_lists_every_example() -> None:
    docs = DAGS.parent / "docs"
    page = (docs / "examples.md").read_text()
    assert all(f"`{dag_id}`" in page for dag_id in EXAMPLES)
    for included in re.findall(r'^--8<-- "([^"]+)"$', page, re.M):
        assert (DAGS.parent / included).is_file(), included
    assert "Example DAGs: examples.md" in (DAGS.parent / "mkdocs.yml").read_text()
    for block in re.findall(r"^```python\n(.*?)^```", page, re.M | re.S):
        if not block.startswith("--8<--"):
            compile(block, "examples.md", "exec")
