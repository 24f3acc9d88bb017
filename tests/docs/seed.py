"""The parameter names and model ids of the seed, read from its markdown tables.

The seed is ``../shared/seeds/000_697a532def32e299.txt`` beside the repository. A copy of what
this module reads from it is checked in as ``tests/fixtures/seed_parameters.json``, so the docs
tests still run where the seed is absent. Regenerate the copy with::

    python -m tests.docs.seed
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from airflow_video_gen.families import BUILT_IN_FAMILIES

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_PATH = REPO_ROOT.parent / "shared" / "seeds" / "000_697a532def32e299.txt"
FIXTURE_PATH = REPO_ROOT / "tests" / "fixtures" / "seed_parameters.json"

_HEADING = re.compile(r"^## (?P<title>.+?)\s*$")
_ROW = re.compile(r"^\|\s*`(?P<name>[^`]+)`\s*\|")
_HEADER = re.compile(r"^\|\s*(?P<first>[A-Za-z ]+?)\s*\|")
_RULE = re.compile(r"^\|\s*:?-{3,}")


def parse_seed(text: str) -> dict[str, Any]:
    """``{"parameters": {family: [names]}, "models": {family: [ids]}}`` in the seed's order.

    Sections are the seed's ``## <family label>`` headings. Parameters are the first cells of the
    tables whose first column is ``Parameter``; model ids those of the tables whose first column is
    ``Model``.
    """
    by_label = {family.label: name for name, family in ((f.name, f) for f in BUILT_IN_FAMILIES)}
    parameters: dict[str, list[str]] = {f.name: [] for f in BUILT_IN_FAMILIES}
    models: dict[str, list[str]] = {f.name: [] for f in BUILT_IN_FAMILIES}
    family: str | None = None
    column: str | None = None
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            family = by_label.get(heading.group("title"))
            column = None
            continue
        if not line.startswith("|"):
            column = None
            continue
        if family is None or _RULE.match(line):
            continue
        row = _ROW.match(line)
        if row is None:
            header = _HEADER.match(line)
            column = header.group("first") if header else None
            continue
        target = {"Parameter": parameters, "Model": models}.get(column or "")
        if target is not None and row.group("name") not in target[family]:
            target[family].append(row.group("name"))
    return {"parameters": parameters, "models": models}


def seed_data() -> dict[str, Any] | None:
    """What the seed holds, or ``None`` where the seed is absent."""
    if not SEED_PATH.exists():
        return None
    return parse_seed(SEED_PATH.read_text(encoding="utf-8"))


def fixture_data() -> dict[str, Any]:
    """The checked-in copy."""
    data: dict[str, Any] = json.loads(FIXTURE_PATH.read_text(encoding="utf-8"))
    return data


def main() -> int:
    data = seed_data()
    if data is None:
        print(f"the seed is not at {SEED_PATH.relative_to(REPO_ROOT.parent)}", file=sys.stderr)
        return 1
    FIXTURE_PATH.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE_PATH.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
