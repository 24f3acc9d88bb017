"""A plain install pulls only what the runtime imports; the emulator's and the demo's needs are extras.

The wheel's metadata says so, importing the runtime proves it, and the tooling commands say which
extra to install when it is missing instead of failing with a traceback.

The install of docs/install.md works as written: the wheel is built by its command, installed by its
command into a throwaway venv, and its checks pass there. Every Python the package claims has its
constraints file, and the file of the running Python pins every requirement within its range.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
INSTALL_PAGE = ROOT / "docs" / "install.md"
#: The Python running the tests, as the constraints files name it ("3.11").
PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
#: The file the docs show; a reader (and these tests) takes the one of their Python instead.
DOCUMENTED_CONSTRAINTS = "constraints/constraints-3.11.txt"

#: Needed by the tooling only (airflow_video_gen.devtools), never by the runtime.
TOOLING_ONLY = {"numpy", "starlette", "uvicorn", "moto"}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _extra(requirement: str) -> str | None:
    match = re.search(r"""extra\s*==\s*["']([^"']+)["']""", requirement)
    return match.group(1) if match else None


def _section(heading: str, page: Path = INSTALL_PAGE) -> str:
    """The text of one ``## heading`` section of a docs page."""
    text = page.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"{page.relative_to(ROOT)} has no section '## {heading}'"
    return match.group(1)


def _shell_blocks(heading: str) -> list[str]:
    """The bash blocks of one section of docs/install.md, with this Python's constraints file."""
    blocks = re.findall(r"^```bash\n(.*?)^```$", _section(heading), re.M | re.S)
    assert blocks, f"docs/install.md, '## {heading}': no bash block"
    return [b.replace(DOCUMENTED_CONSTRAINTS, f"constraints/constraints-{PYTHON}.txt") for b in blocks]


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _offline_pip_env(path: str) -> dict[str, str]:
    """The environment of a documented command: pip builds with this environment's setuptools (no
    isolated build env to download) and downloads nothing, so the commands run as written, offline."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PIP_REQUIRE_VIRTUALENV"}
    }
    # pip reads a negative option's variable the other way round: 0 turns build isolation off.
    env.update(PATH=path, PIP_NO_BUILD_ISOLATION="0", PIP_NO_INDEX="1", PIP_VERBOSE="1")
    return env


@dataclass(frozen=True)
class Built:
    #: The copy of the checkout the wheel was built in (it holds dist/ and constraints/).
    checkout: Path
    wheel: Path
    #: What the build printed (pip -v: the build backend's own output and warnings).
    log: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The wheel, built by the command of docs/install.md in a copy of the checkout (so that nothing is
    written into the working tree), offline, with the build backend installed in this environment."""
    checkout = tmp_path_factory.mktemp("checkout")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, checkout / name)
    for name in ("airflow_video_gen", "constraints"):
        shutil.copytree(ROOT / name, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
    build = _shell_blocks("From a wheel")[0]
    env = _offline_pip_env(f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = _bash(build, checkout, env)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (checkout / "dist").glob("airflow_video_gen-*.whl")
    return Built(checkout, wheel, done.stdout + done.stderr)


@pytest.fixture(scope="module")
def wheel(built: Built) -> Path:
    return built.wheel


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


def test_the_wheel_holds_the_gallery_templates_and_registers_its_plugin(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        registered = whl.read(entry_points).decode()
    templates = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "airflow_video_gen" / "plugins" / "templates").iterdir()
    }
    assert {"airflow_video_gen/plugins/templates/videos.html"} <= templates <= names, sorted(
        templates - names
    )
    assert (
        "[airflow.plugins]\nvideo_gallery = airflow_video_gen.plugins.gallery:VideoGalleryPlugin"
        in registered
    )


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


# ------------------------------------------------------------------------------------- the install


def test_the_license_is_an_spdx_expression_and_the_build_does_not_warn_about_it(
    built: Built, metadata: Message
) -> None:
    assert metadata["License-Expression"] == "Apache-2.0"
    warned = [
        line for line in built.log.splitlines() if "license" in line.lower() and "deprecat" in line.lower()
    ]
    assert warned == []


def _throwaway_venv(path: Path) -> Path:
    """A venv of this Python whose dependencies are this environment's: a ``.pth`` file lists this
    environment's site-packages after the venv's own, so installing the package there downloads
    nothing. Its ``pip`` and ``airflow`` commands run in it, and what pip installs lands in it.
    Returns its ``bin`` folder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    bin_dir = path / "bin"
    python = bin_dir / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site) / "_test_environment.pth").write_text("\n".join(ours) + "\n", encoding="utf-8")
    for command, module in (("pip", "pip"), ("airflow", "airflow")):
        script = bin_dir / command
        script.write_text(f'#!/bin/sh\nexec "{python}" -m {module} "$@"\n', encoding="utf-8")
        script.chmod(0o755)
    return bin_dir


def _path_without_this_environment(first: Path) -> str:
    ours = Path(sys.executable).parent
    rest = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != ours]
    return os.pathsep.join([str(first), *rest])


def test_the_documented_wheel_install_works_and_airflow_lists_the_provider(
    built: Built, metadata: Message, tmp_path: Path
) -> None:
    bin_dir = _throwaway_venv(tmp_path / "venv")
    env = _offline_pip_env(_path_without_this_environment(bin_dir))
    (install,) = _shell_blocks("From a wheel")[1:]
    assert install.startswith("pip install -c constraints/"), install
    # The dependencies are this environment's, already checked against the constraints below.
    done = _bash(install.replace("pip install ", "pip install --no-deps ", 1), built.checkout, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Successfully installed airflow-video-gen-{metadata['Version']}" in done.stdout
    # The page names the file to copy (and the Dockerfile copies it).
    assert built.wheel.name in _section("From a wheel")
    assert built.wheel.name in _section("Airflow's Docker image")

    # The checks of the page, run as a reader would, away from the checkout (nothing to shadow the
    # installed package), with an Airflow of their own.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    reader = {k: v for k, v in env.items() if not k.startswith("AIRFLOW")}
    reader["AIRFLOW_HOME"] = str(tmp_path / "airflow")
    (check,) = _shell_blocks("Check the install")
    done = _bash(check, elsewhere, reader)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    (listed,) = [line for line in lines if line.startswith("airflow-video-gen ")]
    assert metadata["Version"] in listed
    body = json.loads("\n".join(lines[lines.index("{") :]))
    assert body["duration"] == 5
    assert body["image"] == {"type": "url", "url": "https://example.com/cat.png"}

    where = subprocess.run(
        [bin_dir / "python", "-c", "import airflow_video_gen; print(airflow_video_gen.__file__)"],
        cwd=elsewhere,
        env=reader,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv"), where.stdout


def test_the_documented_install_from_a_checkout_works(
    built: Built, metadata: Message, tmp_path: Path
) -> None:
    bin_dir = _throwaway_venv(tmp_path / "venv")
    env = _offline_pip_env(_path_without_this_environment(bin_dir))
    for install in _shell_blocks("From a checkout"):
        assert install.startswith("pip install -c constraints/"), install
        done = _bash(install.replace("pip install ", "pip install --no-deps ", 1), built.checkout, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"Successfully installed airflow-video-gen-{metadata['Version']}" in done.stdout
    installed = subprocess.run(
        [bin_dir / "python", "-m", "pip", "show", "--files", "airflow-video-gen"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Location: " + str(tmp_path / "venv") in installed.stdout


# --------------------------------------------------------------------------------- the constraints

CONSTRAINTS = ROOT / "constraints"
#: The file the others start from (scripts/make_constraints.py).
REFERENCE = CONSTRAINTS / "constraints-3.11.txt"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def _pins(path: Path) -> dict[str, Version]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[_name(match.group(1))] = Version(match.group(2))
    return pins


def _claimed(metadata: Message) -> list[str]:
    """The Python versions of the classifiers, oldest first."""
    found = [
        c.rsplit(" :: ", 1)[1]
        for c in metadata.get_all("Classifier") or []
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    return sorted(found, key=Version)


def test_every_claimed_python_has_its_constraints_file_and_only_those(metadata: Message) -> None:
    claimed = _claimed(metadata)
    assert claimed, "no 'Programming Language :: Python :: 3.X' classifier"
    files = sorted(
        (p.name[len("constraints-") : -len(".txt")] for p in CONSTRAINTS.glob("constraints-*.txt")),
        key=Version,
    )
    assert files == claimed
    assert not (ROOT / "constraints.txt").exists(), "the constraints are per Python, under constraints/"
    requires = SpecifierSet(metadata["Requires-Python"])
    assert [v for v in claimed if Version(v) not in requires] == []
    lowest, highest = Version(claimed[0]), Version(claimed[-1])
    assert Version(f"3.{lowest.minor - 1}") not in requires
    assert Version(f"3.{highest.minor + 1}") not in requires


def test_the_constraints_of_this_python_pin_every_requirement_within_its_range(metadata: Message) -> None:
    pins = _pins(CONSTRAINTS / f"constraints-{PYTHON}.txt")
    extras = ["", *(metadata.get_all("Provides-Extra") or [])]
    problems = []
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        name = _name(requirement.name)
        if name == "airflow-video-gen":
            continue  # an extra of the package itself (demo needs emulator)
        if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in extras):
            continue  # not for this Python
        if name not in pins:
            problems.append(f"{line}: not pinned")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{line}: pinned to {pins[name]}")
    assert problems == []


def test_this_environment_is_installed_from_the_constraints_of_its_python() -> None:
    # make venv and make test-pythons install from the file of the venv's own Python.
    pins = _pins(CONSTRAINTS / f"constraints-{PYTHON}.txt")
    wrong = sorted(
        f"{dist.metadata['Name']} {dist.version} (pinned: {pins[_name(dist.metadata['Name'])]})"
        for dist in importlib.metadata.distributions()
        if _name(dist.metadata["Name"]) in pins
        and Version(dist.version) != pins[_name(dist.metadata["Name"])]
    )
    assert wrong == []


def test_a_pin_that_differs_from_the_reference_is_explained_in_its_header(metadata: Message) -> None:
    reference = _pins(REFERENCE)
    unexplained = []
    for version in _claimed(metadata):
        path = CONSTRAINTS / f"constraints-{version}.txt"
        header = "\n".join(
            line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")
        )
        named = {(_name(n), v) for n, v in re.findall(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s:;,]+)", header)}
        for name, pinned in _pins(path).items():
            if name in reference and pinned != reference[name] and (name, str(reference[name])) not in named:
                unexplained.append(f"{path.name}: {name}=={pinned} (reference: {reference[name]})")
    assert unexplained == []


# ------------------------------------------------------------------------ scripts/make_constraints.py

SCRIPT = ROOT / "scripts" / "make_constraints.py"


def _script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_the_script_names_the_claimed_pythons(metadata: Message) -> None:
    done = _script("--supported")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == _claimed(metadata)


def test_the_script_looks_under_pyenv_when_python_on_path_does_not_run(tmp_path: Path) -> None:
    # A pyenv shim of a version pyenv does not serve here: on PATH, but it fails.
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / f"python{PYTHON}"
    shim.write_text(f"#!/bin/sh\necho 'pyenv: python{PYTHON}: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    installed = tmp_path / "pyenv" / "versions" / f"{PYTHON}.99" / "bin" / f"python{PYTHON}"
    installed.parent.mkdir(parents=True)
    installed.symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}/bin", "PYENV_ROOT": str(tmp_path / "pyenv")}

    done = _script("--which", PYTHON, env=env)
    assert (done.returncode, done.stdout.strip()) == (0, str(installed)), done.stderr

    installed.unlink()
    done = _script("--which", PYTHON, env=env)
    assert done.returncode == 1
    assert done.stderr == f"no python{PYTHON} on PATH nor under $PYENV_ROOT/versions\n"
