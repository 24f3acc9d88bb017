"""MkDocs hook: fills the family reference tables from the code at build time.

A page holds markers such as ``<!-- parameters:kling -->``; this hook replaces each with the table
:mod:`family_tables` makes from the family's data, so the tables cannot drift
from what the checks enforce. A marker naming an unknown family or kind fails the build.
"""

from __future__ import annotations

from typing import Any

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from docs.family_tables import expand_markers  # noqa: E402


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the reference markers of a page with their generated tables."""
    path = str(page.file.src_uri)
    try:
        return expand_markers(markdown, page_path=path)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
