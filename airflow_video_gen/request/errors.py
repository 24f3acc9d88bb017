"""How a request is refused: every problem at once, each naming its parameter and the model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One problem: the parameter (camelCase path, as in the seed) and what is wrong."""

    param: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"param": self.param, "message": self.message}


class InvalidVideoRequest(ValueError):
    """A request that breaks a documented rule; raised before any network call.

    :param model: The gateway model id the request was checked for.
    :param issues: Every problem found, each naming its parameter.

    ``errors`` is the list of ``{"param", "message"}`` dicts; ``str()`` lists them all.
    """

    def __init__(self, model: str, issues: Sequence[Issue]) -> None:
        self.model = model
        self.issues = list(issues)
        self.errors = [i.as_dict() for i in self.issues]
        lines = "\n".join(f"  - {i.param}: {i.message}" for i in self.issues)
        count = f"{len(self.issues)} problem{'s' if len(self.issues) != 1 else ''}"
        super().__init__(f"Invalid video request for {model} ({count}):\n{lines}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.model, self.issues))


def allowed_text(values: Sequence[Any]) -> str:
    """``4, 6 or 8``; runs of whole numbers collapse to ``3 to 15``."""
    if not values:
        return "nothing"
    if all(isinstance(v, int) for v in values) and len(values) > 3:
        ints = sorted(values)
        if ints == list(range(ints[0], ints[-1] + 1)):
            return f"{ints[0]} to {ints[-1]}"
    shown = [repr(v) if isinstance(v, str) else str(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def short(value: Any) -> str:
    """``repr(value)``, cut to 60 characters for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
