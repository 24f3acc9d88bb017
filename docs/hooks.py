"""MkDocs hook: fills the family reference tables from the code at build time.

A page holds markers such as ``<!-- parameters:kling -->``; this hook replaces each with the table
:mod:`airflow_video_gen.families.reference` makes from the family's data, so the tables cannot drift
from what the checks enforce. A marker naming an unknown family or kind fails the build.
"""

from __future__ import annotations

from typing import Any

from airflow_video_gen.families.reference import expand_markers


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the reference markers of a page with their generated tables."""
    path = str(page.file.src_uri)
    try:
        return expand_markers(markdown, page_path=path)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
