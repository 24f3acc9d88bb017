"""A plain install pulls only what the runtime imports; the emulator's and the demo's needs are extras.

The wheel's metadata says so, importing the runtime proves it, and the tooling commands say which
extra to install when it is missing instead of failing with a traceback.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Needed by the tooling only (airflow_video_gen.devtools), never by the runtime.
TOOLING_ONLY = {"numpy", "starlette", "uvicorn", "moto"}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _extra(requirement: str) -> str | None:
    match = re.search(r"""extra\s*==\s*["']([^"']+)["']""", requirement)
    return match.group(1) if match else None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the sources (so that nothing is written into the working tree),
    offline, with the build backend installed in this environment."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "airflow_video_gen", src / "airflow_video_gen", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp / "out"
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(out),
    ]
    result = subprocess.run([*command, str(src)], capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("airflow_video_gen-*.whl")
    return built


@pytest.fixture(scope="module")
def metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as whl:
        (name,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(whl.read(name).decode())


def test_a_plain_install_requires_only_what_the_runtime_imports(metadata: Message) -> None:
    requires = metadata.get_all("Requires-Dist") or []
    core = {_name(r) for r in requires if _extra(r) is None}
    assert not core & TOOLING_ONLY, sorted(core & TOOLING_ONLY)
    runtime = {"apache-airflow", "apache-airflow-providers-amazon", "httpx", "aiohttp", "pydantic"}
    assert runtime | {"pillow", "av", "boto3", "botocore"} <= core


def test_the_emulator_and_the_demo_are_extras(metadata: Message) -> None:
    assert {"emulator", "demo", "dev"} <= set(metadata.get_all("Provides-Extra") or [])
    by_extra: dict[str, set[str]] = {}
    for requirement in metadata.get_all("Requires-Dist") or []:
        extra = _extra(requirement)
        if extra:
            by_extra.setdefault(extra, set()).add(requirement.split(";")[0].strip())
    assert {"numpy", "starlette", "uvicorn"} <= {_name(r) for r in by_extra["emulator"]}
    assert "airflow-video-gen[emulator]" in by_extra["demo"]
    assert "moto" in {_name(r) for r in by_extra["demo"]}


def test_the_wheel_holds_every_module(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        packed = {n for n in whl.namelist() if n.endswith(".py")}
    sources = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "airflow_video_gen").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sources <= packed, sorted(sources - packed)


RUNTIME_MODULES = (
    "airflow_video_gen.operators.submit",
    "airflow_video_gen.sensors.generation",
    "airflow_video_gen.triggers.generation",
    "airflow_video_gen.hooks.gateway",
    "airflow_video_gen.operators.archive",
    "airflow_video_gen.operators.staging",
    "airflow_video_gen.operators.join",
    "airflow_video_gen.models",
)


def test_importing_the_runtime_loads_no_tooling() -> None:
    # A fresh interpreter: this test process has imported the emulator already. Airflow itself
    # (task SDK, triggers, the amazon provider's S3 hook) loads none of these, so all are asserted on;
    # starlette and uvicorn come with Airflow's api-server, but are not imported by the task side.
    code = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {RUNTIME_MODULES!r}:
            importlib.import_module(name)
        watched = ("numpy", "starlette", "uvicorn", "moto", "airflow_video_gen.devtools")
        print("\\n".join(sorted(m for m in sys.modules if m.startswith(watched))))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []


#: Runs the command line with the named top-level packages made unimportable, as if not installed.
_WITHOUT = """
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
from airflow_video_gen.cli import main
sys.exit(main({argv!r}))
"""


@pytest.mark.parametrize(
    ("argv", "blocked", "extra", "missing"),
    [
        (["emulator", "--port", "0"], {"starlette", "numpy"}, "emulator", "numpy"),
        (["emulator", "--port", "0"], {"uvicorn"}, "emulator", "uvicorn"),
        (["demo", "--home", "unused"], {"moto"}, "demo", "moto"),
        (["demo", "--home", "unused"], {"starlette"}, "demo", "starlette"),
    ],
)
def test_a_missing_extra_is_one_clear_line_and_exit_code_2(
    argv: list[str], blocked: set[str], extra: str, missing: str, tmp_path: Path
) -> None:
    code = _WITHOUT.format(blocked=sorted(blocked), argv=argv)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"airflow-video-gen {argv[0]} needs the '{extra}' extra: "
        f"pip install 'airflow-video-gen[{extra}]' (missing: {missing})\n"
    )
    assert result.stdout == ""
    assert not (tmp_path / "unused").exists()
