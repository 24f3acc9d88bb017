"""Write ``constraints/constraints-<X.Y>.txt``: every dependency pinned, one file per supported Python.

The supported Pythons are the ``Programming Language :: Python :: 3.X`` classifiers of
``pyproject.toml``. For each one, a fresh venv made with that interpreter installs ``.[dev]`` (every
extra) constrained by the pins of the reference file, ``constraints/constraints-3.11.txt``, wherever
the pinned release has a distribution for that Python. A pin that has none is dropped, named in the
file's header with the reason, and pip takes the newest release that fits. The file is then
``pip freeze`` of that venv, without the project itself. The reference file is made the same way from
its own pins, so a dependency added to ``pyproject.toml`` gets pinned and one removed disappears.

The script needs only the standard library; run it from any Python 3.10+ (``make constraints``)::

    python scripts/make_constraints.py              # every supported Python installed here
    python scripts/make_constraints.py 3.10 3.13    # those only
    python scripts/make_constraints.py --which 3.12 # the interpreter it would use (exit 1: none)
    python scripts/make_constraints.py --supported  # the supported versions, one line

An interpreter is ``python3.X`` on ``PATH``, else the newest ``$PYENV_ROOT/versions/3.X.*``
(``~/.pyenv`` when ``PYENV_ROOT`` is unset); each is asked its version before it is used, since a
pyenv shim answers for versions it does not serve.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "airflow-video-gen"
#: The Python whose pins the others start from.
REFERENCE = "3.11"
CONSTRAINTS_DIR = ROOT / "constraints"
#: What the wheel build of the project reads: copied so that nothing is written into the working tree.
SOURCES = ("pyproject.toml", "README.md", "airflow_video_gen")

_CLASSIFIER = re.compile(r'"Programming Language :: Python :: (3\.\d+)"')
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")
#: pip's ResolutionImpossible names the packages that have no distribution for this environment.
_UNAVAILABLE = re.compile(
    r"no matching distributions available for your environment:\n((?:[ \t]+\S+[ \t]*\n?)+)", re.IGNORECASE
)
_NO_MATCH = re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+)")


def constraints_file(version: str) -> Path:
    return CONSTRAINTS_DIR / f"constraints-{version}.txt"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def supported_versions(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The Python versions the project claims, oldest first."""
    found = set(_CLASSIFIER.findall(pyproject.read_text(encoding="utf-8")))
    return sorted(found, key=lambda v: tuple(int(p) for p in v.split(".")))


def read_pins(path: Path) -> dict[str, str]:
    """``canonical name -> "Name==version"`` of a constraints file (comments and blank lines skipped)."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = _PIN.match(line)
        if match:
            pins[canonical(match.group(1))] = line
    return pins


def _version_of(interpreter: str) -> str | None:
    try:
        done = subprocess.run(
            [interpreter, "-c", 'import sys; print("%d.%d" % sys.version_info[:2])'],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _patch_level(path: Path) -> tuple[int, ...]:
    # versions/3.10.13/bin/python3.10 -> (13,); a non-numeric tail (3.13.0t, 3.12-dev) sorts first.
    tail = path.parents[1].name.split(".")[2:]
    return tuple(int(p) if p.isdigit() else -1 for p in tail)


def find_python(version: str) -> str | None:
    """The interpreter of ``version`` (``"3.12"``) on this machine, or None."""
    candidates: list[str] = []
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    under_pyenv = (pyenv_root / "versions").glob(f"{version}.*/bin/python{version}")
    candidates += [str(p) for p in sorted(under_pyenv, key=_patch_level, reverse=True)]
    for candidate in candidates:
        if _version_of(candidate) == version:
            return candidate
    return None


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _must(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise SystemExit(f"{what} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")


@dataclass
class Result:
    version: str
    lines: list[str]
    #: ``"Name==version" -> why it was dropped`` (no distribution of it for this Python).
    dropped: dict[str, str] = field(default_factory=dict)


class Venv:
    """A fresh venv of one interpreter under ``workdir``, with an up-to-date pip."""

    def __init__(self, interpreter: str, path: Path) -> None:
        _must(_run([interpreter, "-m", "venv", str(path)]), f"{interpreter} -m venv")
        self.python = str(path / ("Scripts" if os.name == "nt" else "bin") / "python")
        _must(self.pip("install", "--quiet", "--upgrade", "pip"), "pip install --upgrade pip")

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run([self.python, "-m", "pip", *args])

    def why_unavailable(self, pin: str) -> str | None:
        """Why ``pin`` has no distribution for this venv's Python, or None when it has one."""
        done = self.pip("install", "--dry-run", "--no-deps", "--ignore-installed", "--quiet", pin)
        if done.returncode == 0:
            return None
        version = pin.split("==", 1)[1]
        # pip: "Ignored the following versions that require a different python version:
        # 9.38.0 Requires-Python >=3.11; 9.39.0 Requires-Python >=3.11"
        # or: "Package 'networkx' requires a different Python: 3.10.13 not in '!=3.14.1,>=3.11'"
        output = done.stdout + done.stderr
        needs = re.search(rf"[:;] {re.escape(version)} Requires-Python ([^;\n]+)", output) or re.search(
            r"requires a different Python: \S+ not in '([^']+)'", output
        )
        if needs:
            return f"requires Python {needs.group(1).strip()}"
        return "has no wheel or source distribution for this Python"


def _unavailable_names(pip_output: str) -> set[str]:
    names = {canonical(n) for n in _NO_MATCH.findall(pip_output)}
    for block in _UNAVAILABLE.findall(pip_output):
        names |= {canonical(n) for n in block.split()}
    return names


def build(version: str, interpreter: str, reference: dict[str, str], workdir: Path) -> Result:
    """Install ``.[dev]`` with the reference pins that exist for ``version`` and freeze the result."""
    venv = Venv(interpreter, workdir / f"py{version}")
    source = workdir / "src"
    pins = dict(reference)
    dropped: dict[str, str] = {}
    if version != REFERENCE:
        # One quick look per pinned release, a few at a time: far faster than one full resolution per
        # missing release. The loop below still catches what this misses.
        with ThreadPoolExecutor(max_workers=6) as pool:
            reasons = dict(zip(pins, pool.map(venv.why_unavailable, pins.values()), strict=True))
        for name, why in sorted(reasons.items()):
            if why:
                print(f"  Python {version}: dropping {pins[name]} ({why})", flush=True)
                dropped[pins.pop(name)] = why
    pins_file = workdir / f"pins-{version}.txt"
    while True:
        pins_file.write_text("\n".join(sorted(pins.values(), key=str.lower)) + "\n", encoding="utf-8")
        done = venv.pip("install", "-c", str(pins_file), f"{source}[dev]")
        if done.returncode == 0:
            break
        output = done.stdout + done.stderr
        culprits = sorted(_unavailable_names(output) & pins.keys())
        reasons = {name: venv.why_unavailable(pins[name]) for name in culprits}
        unavailable = {name: why for name, why in reasons.items() if why}
        if not unavailable:
            raise SystemExit(
                f"Python {version}: pip cannot install .[dev] with the pins of "
                f"{constraints_file(REFERENCE).relative_to(ROOT)}, and not because a pinned release is "
                f"missing for this Python. Fix the pins (or pyproject.toml) and run again:\n"
                + "\n".join(output.splitlines()[-40:])
            )
        for name, why in unavailable.items():
            print(f"  Python {version}: dropping {pins[name]} ({why})", flush=True)
            dropped[pins.pop(name)] = why
    freeze = venv.pip("freeze", "--all", "--exclude", "pip", "--exclude", PROJECT)
    _must(freeze, "pip freeze")
    lines = [line for line in freeze.stdout.splitlines() if line and not line.startswith(("#", "-e"))]
    return Result(version, lines, dropped)


def _wrapped(first: str, items: list[str]) -> list[str]:
    wrapper = textwrap.TextWrapper(100, first, "#   ", break_long_words=False, break_on_hyphens=False)
    return wrapper.wrap(", ".join(items))


def render(result: Result, reference: dict[str, str]) -> str:
    """The constraints file: a header that says where it comes from and how it differs, then the pins."""
    ref_name = constraints_file(REFERENCE).relative_to(ROOT).as_posix()
    header = [
        f"# Every dependency of {PROJECT} and its extras (.[dev]) pinned for Python {result.version}.",
        "# Written by scripts/make_constraints.py (pip freeze of a fresh venv): run `make constraints`",
        "# instead of editing it. Install with the file of your Python, for instance:",
        f'#   pip install -c constraints/constraints-{result.version}.txt ".[demo]"',
    ]
    if result.version == REFERENCE:
        header.append("# The reference: the other Pythons' files take these pins wherever they exist there.")
        return "\n".join(header + result.lines) + "\n"
    pinned = {canonical(line.split("==", 1)[0]): line for line in result.lines}
    header.append(f"# The pins of {ref_name}, but for those with no release for Python {result.version}")
    header.append("# (pip took the newest release that has one):")
    for pin, why in sorted(result.dropped.items(), key=lambda item: item[0].lower()):
        now = pinned.get(canonical(pin.split("==", 1)[0]))
        header.append(f"#   {pin} {why}: {now.split('==', 1)[1] + ' here' if now else 'not needed here'}")
    if not result.dropped:
        header.append("#   (none)")
    only_here = sorted((line for name, line in pinned.items() if name not in reference), key=str.lower)
    if only_here:
        header += _wrapped(f"# Needed on Python {result.version} only: ", only_here)
    not_here = sorted(
        (line for name, line in reference.items() if name not in pinned and line not in result.dropped),
        key=str.lower,
    )
    if not_here:
        header += _wrapped(f"# Not needed on Python {result.version}: ", not_here)
    return "\n".join(header + result.lines) + "\n"


def _copy_sources(dest: Path) -> None:
    dest.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, dest / name)


def main(argv: list[str] | None = None) -> int:
    supported = supported_versions()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("versions", nargs="*", help=f"Python versions to do (default: {' '.join(supported)})")
    parser.add_argument("--which", metavar="X.Y", help="print the interpreter of X.Y and exit (1: none)")
    parser.add_argument("--supported", action="store_true", help="print the supported versions and exit")
    args = parser.parse_args(argv)

    if args.supported:
        print(" ".join(supported))
        return 0
    if args.which:
        found = find_python(args.which)
        if found is None:
            print(f"no python{args.which} on PATH nor under $PYENV_ROOT/versions", file=sys.stderr)
            return 1
        print(found)
        return 0

    unknown = [v for v in args.versions if v not in supported]
    if unknown:
        parser.error(f"not a supported Python: {' '.join(unknown)} (supported: {' '.join(supported)})")
    reference_file = constraints_file(REFERENCE)
    if not reference_file.exists():
        parser.error(
            f"{reference_file.relative_to(ROOT)} is missing: it holds the pins the others start from"
        )
    reference = read_pins(reference_file)

    missing: list[str] = []
    with tempfile.TemporaryDirectory(prefix="make-constraints-") as tmp:
        workdir = Path(tmp)
        _copy_sources(workdir / "src")
        # The reference first: the others start from its pins as they are now.
        for version in sorted(args.versions or supported, key=lambda v: v != REFERENCE):
            interpreter = find_python(version)
            if interpreter is None:
                print(f"Python {version}: no interpreter found (python{version} or pyenv); skipped")
                missing.append(version)
                continue
            print(f"Python {version}: {interpreter}", flush=True)
            result = build(version, interpreter, reference, workdir)
            target = constraints_file(version)
            text = render(result, reference)
            # Unchanged, the file keeps its time: make rebuilds the venvs that depend on it otherwise.
            changed = not target.exists() or target.read_text(encoding="utf-8") != text
            if changed:
                target.write_text(text, encoding="utf-8")
            if version == REFERENCE:
                reference = read_pins(target)
            done = "wrote" if changed else "unchanged:"
            print(f"  {done} {target.relative_to(ROOT)} ({len(result.lines)} pins)", flush=True)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
