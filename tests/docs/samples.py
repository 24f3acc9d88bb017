"""The code samples of README.md and of every page under docs/, read with Sybil and run as a reader
would run them.

Which blocks run
    Fenced blocks whose language is Python (``python``, ``py``) or shell (``bash``, ``sh``,
    ``shell``, ``console``). Other fences (``text``, ``ini``, ``mermaid``, none) are prose. In a
    ``console`` block only the lines after a ``$ `` prompt run; the others are output.

Markers (an HTML comment on the line right before the opening fence, indented like it)
    ``<!-- not-run: <reason> -->``: the block is not run; the reason must say why (a real API key,
    Docker, Kubernetes, other machines...). The tests report each one as skipped, with its reason
    (``pytest -rs tests/docs``).
    ``<!-- setup: <what provides it> -->``: the block installs what the tests already have (the
    test environment is ``.venv``, built by ``make test``). It is not run, and it may hold only
    install commands (:data:`SETUP_COMMAND`: ``python -m venv``, ``pip install``, activating a
    virtual environment, ``make venv``). The other way round, an install command in a block
    without the marker is an error: a test never installs into ``.venv``.
    A marker anywhere else than right before a fence is an error. Before a fence of another
    language (``js``...) it only informs the reader.

Python
    The Python blocks of one page run in order, in one namespace per page (Sybil's document
    namespace), in this process, so a later block can use the names of an earlier one. Each block
    runs as if pasted into the body of a DAG file: inside a DAG context of its own (so a sample
    may build tasks without a ``with DAG``, and two blocks may use the same task id); a ``with
    DAG`` in the sample makes a DAG of its own. Every DAG a block built is then checked as the
    dag-processor checks a DAG file (validate, cycles, serialization); submit operators check
    literal requests when built, as at parse time. Tracebacks name the page and its line. The
    working directory is a new one standing for the root of a checkout (see Shell), and
    ``__file__`` is a file of its ``dags/``, so ``Path(__file__).parent / "sample_images"`` works
    as in the example DAGs.

Shell
    The shell blocks of one page run in order as one ``bash -e`` session (a later block sees the
    variables and the directory of an earlier one), in a new session (process group) of their own,
    with:

    - a new temporary working directory that stands for the root of a checkout: it holds a copy of
      the checkout's ``dags/`` (the example DAGs and ``dags/sample_images/``) and nothing else;
    - ``PATH`` with the project's ``.venv/bin`` first (``airflow``, ``airflow-video-gen``,
      ``python``, ``moto_server`` are the project's);
    - no ``AIRFLOW_*`` variable of the test process, and a new ``AIRFLOW_HOME`` whose SQLite
      database is already migrated, as a reader's Airflow is (the quickstart sets and migrates
      its own);
    - ``HTTP(S)_PROXY`` pointing at a closed loopback port (``NO_PROXY`` for loopback), so a
      sample that reaches for the internet fails at once instead of leaving the machine.

    A long-running process is started by the sample itself, in the background as a reader would
    (``airflow-video-gen emulator --port 8090 &``). When the page ends, every process left in its
    session is stopped (SIGTERM, then SIGKILL). A failing command stops the page, and the result
    names the block (page and line) and the command.

Snippets
    A ``--8<-- "path"`` line (pymdownx.snippets) is replaced by the file it names, as on the site.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sybil import Document, Example, Region
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer, RawFencedCodeBlockLexer

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

PYTHON_LANGUAGES = frozenset({"python", "py"})
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})

#: The commands a ``setup`` block may hold: what ``make test`` has already done for the tests.
SETUP_COMMAND = re.compile(
    r"""^(
        (python3?(\.\d+)?|\S*/python3?) \s+ -m \s+ venv\b
      | ((\S*/)?pip3? | (\S*/)?python3?(\.\d+)? \s+ -m \s+ pip) \s+ install\b
      | (source|\.) \s+ \S*/bin/activate\b
      | make \s+ venv\b
    )""",
    re.VERBOSE,
)
#: An install command anywhere in a line: a block holding one needs the ``setup`` marker.
INSTALL_COMMAND = re.compile(
    r"(^|[;&|(]\s*)((\S*/)?pip3?\s+install|\S*python3?(\.\d+)?\s+-m\s+(pip\s+install|venv))\b"
)

_FENCE_INFO = re.compile(r"(?P<language>[^\s`{]*)(?P<attributes>[^\n]*)$\n", re.MULTILINE)
_SNIPPET = re.compile(
    r"""^(?P<indent>[ \t]*)-{1,}8<-{1,}[ \t]+["'](?P<path>[^"']+)["'][ \t]*$""", re.MULTILINE
)
_PROMPT = re.compile(r"^\$ ?")


def pages() -> list[Path]:
    """README.md and every page of the site, in a stable order."""
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]


def page_name(path: Path) -> str:
    return path.resolve().relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


@dataclass(frozen=True)
class Sample:
    """One fenced Python or shell block of a page."""

    page: str
    #: The line of the opening fence (1-based).
    line: int
    language: str
    #: What runs: dedented, snippets included, console prompts and output removed.
    source: str
    #: ``run``, ``not-run`` or ``setup``.
    marker: Literal["run", "not-run", "setup"]
    #: The marker's reason (empty for ``run``).
    reason: str = ""

    @property
    def kind(self) -> Literal["python", "shell"]:
        return "python" if self.language in PYTHON_LANGUAGES else "shell"

    @property
    def runs(self) -> bool:
        return self.marker == "run"

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


class MarkerError(ValueError):
    """A ``not-run`` or ``setup`` marker that is malformed or not right before a block."""


def _console_commands(text: str) -> str:
    """The commands of a ``console`` block: the lines after a ``$`` prompt and their ``\\``
    continuations."""
    out: list[str] = []
    continued = False
    for line in text.splitlines():
        if continued or _PROMPT.match(line):
            command = line if continued else _PROMPT.sub("", line, count=1)
            out.append(command)
            continued = command.rstrip().endswith("\\")
        else:
            out.append("")  # output: keeps the line numbers
    return "\n".join(out) + "\n"


def _include_snippets(text: str, base: Path) -> str:
    def include(match: re.Match[str]) -> str:
        path = base / match.group("path")
        if not path.is_file():
            raise MarkerError(f"the snippet {match.group('path')!r} does not exist under {base.name}/")
        body = path.read_text(encoding="utf-8").rstrip("\n")
        return "\n".join(match.group("indent") + line for line in body.splitlines())

    return _SNIPPET.sub(include, text)


class SampleParser:
    """A Sybil parser: one region per Python or shell block, its :class:`Sample` as ``parsed``.

    Sybil's own Markdown lexers find the fences (indented ones, in tabs and admonitions, are
    dedented) and the HTML-comment markers.
    """

    fences = RawFencedCodeBlockLexer(info_pattern=_FENCE_INFO)
    markers = DirectiveInHTMLCommentLexer(directive=r"not-run|setup", arguments=r".*?")

    def __init__(self, snippet_base: Path = REPO_ROOT) -> None:
        self.snippet_base = snippet_base

    def __call__(self, document: Document) -> Iterable[Region]:
        text = document.text
        name = page_name(Path(document.path))

        def line_of(position: int) -> int:
            return text.count("\n", 0, position) + 1

        markers: dict[int, tuple[str, str]] = {}  # line of the marker -> (directive, reason)
        for found in self.markers(document):
            if found.lexemes.get("source", "").strip():
                raise MarkerError(
                    f"{name}:{line_of(found.start)}: a marker is one line: <!-- not-run: why -->"
                )
            markers[line_of(found.start)] = (found.lexemes["directive"], found.lexemes["arguments"].strip())

        used: set[int] = set()
        for region in self.fences(document):
            language = region.lexemes["language"].lower()
            line = line_of(region.start)
            directive, reason = markers.get(line - 1, ("run", ""))
            if directive != "run":
                used.add(line - 1)
                if not reason:
                    raise MarkerError(
                        f"{name}:{line - 1}: <!-- {directive}: --> needs a reason, "
                        f"e.g. <!-- {directive}: needs a real AI Gateway API key -->"
                    )
            if language not in PYTHON_LANGUAGES | SHELL_LANGUAGES:
                continue  # prose, or another language: a marker there only informs the reader
            source = _include_snippets(str(region.lexemes["source"]), self.snippet_base)
            if language == "console":
                source = _console_commands(source)
            sample = Sample(name, line, language, source, directive, reason)  # type: ignore[arg-type]
            yield Region(region.start, region.end, parsed=sample, evaluator=evaluate_python)

        for line in sorted(set(markers) - used):
            directive, _ = markers[line]
            raise MarkerError(
                f"{name}:{line}: <!-- {directive}: ... --> must be on the line right before the opening "
                "fence of a code block (no blank line between)"
            )


def parse(path: Path) -> Document:
    """A page as a Sybil document whose examples are its Python and shell samples."""
    return Document.parse(str(path), SampleParser())


def samples(path: Path) -> list[Sample]:
    return [example.parsed for example in parse(path).examples()]


def all_samples() -> tuple[list[Sample], dict[str, str]]:
    """The samples of every page, and the pages whose markers are wrong (page -> the error)."""
    found: list[Sample] = []
    errors: dict[str, str] = {}
    for path in pages():
        try:
            found.extend(samples(path))
        except MarkerError as exc:
            errors[page_name(path)] = str(exc)
    return found, errors


def install_lines(sample: Sample) -> list[str]:
    return [line for line in _commands(sample.source) if INSTALL_COMMAND.search(line)]


def setup_violations(sample: Sample) -> list[str]:
    """The commands of a ``setup`` block that are not install commands."""
    return [line for line in _commands(sample.source) if not SETUP_COMMAND.match(line)]


def _commands(source: str) -> Iterator[str]:
    """The command lines of a shell block: comments, blank lines and continuation lines left out."""
    continued = False
    for raw in source.splitlines():
        line = raw.strip()
        if not continued and line and not line.startswith("#"):
            yield re.sub(r"\s+#.*$", "", line)
        continued = line.endswith("\\")


# ----------------------------------------------------------------------------------------- Python


def _dags_in(namespace: dict[str, Any]) -> dict[int, Any]:
    from airflow.sdk import DAG

    return {id(value): value for value in namespace.values() if isinstance(value, DAG)}


def check_dag(dag: Any) -> None:
    """What the dag-processor does with a DAG of a file it parsed, short of saving it."""
    from airflow.serialization.serialized_objects import DagSerialization

    dag.validate()
    dag.check_cycle()
    DagSerialization.to_dict(dag)


def evaluate_python(example: Example) -> None:
    """Sybil evaluator of one Python sample: run it in the page's namespace inside a DAG context of
    its own, then check every DAG it built."""
    from airflow.sdk import DAG

    sample: Sample = example.parsed
    if not sample.runs or sample.kind != "python":
        return
    namespace = example.namespace
    namespace.setdefault("__name__", "docs_sample")
    # As if pasted into a DAG file of the checkout's dags/ (the working directory stands for it).
    namespace.setdefault("__file__", str(Path.cwd() / "dags" / "docs_sample.py"))
    before = _dags_in(namespace)
    # Padding keeps the page's line numbers in tracebacks.
    code = compile(
        "\n" * sample.line + sample.source, str(REPO_ROOT / sample.page), "exec", dont_inherit=True
    )
    slug = re.sub(r"[^a-z0-9]+", "_", sample.page.lower()).strip("_")
    with DAG(dag_id=f"docs_{slug}_{sample.line}", schedule=None) as context:
        exec(code, namespace)
    namespace.pop("__builtins__", None)
    built = [dag for key, dag in _dags_in(namespace).items() if key not in before]
    if context.task_dict:
        built.append(context)
    for dag in built:
        check_dag(dag)


def run_python(path: Path) -> list[Sample]:
    """Run the Python samples of a page in order, in one namespace; returns those that ran."""
    ran = []
    for example in parse(path).examples():
        sample: Sample = example.parsed
        if sample.kind == "python" and sample.runs:
            example.evaluate()
            ran.append(sample)
    return ran


# ------------------------------------------------------------------------------------------ shell

#: A loopback port nothing listens on: the proxy for any sample that reaches for the internet.
CLOSED_PROXY = "http://127.0.0.1:9"


def shell_env(airflow_home: Path) -> dict[str, str]:
    """The environment of a page's shell session: this one less Airflow's and pytest's
    variables, the project's ``.venv/bin`` first on ``PATH``, a new ``AIRFLOW_HOME``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "PYTEST", "VIRTUAL_ENV")) and key.upper() not in _PROXY_VARIABLES
    }
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "/usr/bin:/bin")])
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    env["AIRFLOW_HOME"] = str(airflow_home)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[name] = CLOSED_PROXY
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    return env


_PROXY_VARIABLES = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}


@dataclass
class ShellRun:
    """What a page's shell session did."""

    page: str
    returncode: int
    #: Everything the session printed (stdout and stderr, interleaved).
    output: str
    #: The working directory the reader was in.
    cwd: Path
    seconds: float
    #: The block and command that failed, if one did.
    failed: str = ""
    #: The processes of the session still alive when it ended (then stopped).
    leftovers: tuple[str, ...] = ()

    def explain(self, tail: int = 80) -> str:
        lines = self.output.splitlines()[-tail:]
        return (
            f"{self.page}: the shell samples exited with {self.returncode} after {self.seconds:.0f} s"
            + (f"; failed: {self.failed}" if self.failed else "")
            + "\n--- last lines of output ---\n"
            + "\n".join(lines)
        )


def migrate_airflow_home(home: Path) -> None:
    """An ``AIRFLOW_HOME`` whose SQLite database is migrated, as a reader's is after ``airflow db
    migrate``: a copy of the database the test run migrated once
    (:func:`tests.airflow_harness.migrated_database`), and no ``airflow.cfg`` (each copy of the home
    writes its own)."""
    from tests.airflow_harness import migrated_database

    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_database(), home / "airflow.db")
    (home / "airflow.cfg").unlink(missing_ok=True)


def new_checkout_dir(path: Path) -> Path:
    """A new working directory standing for the root of a checkout: a copy of ``dags/``."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO_ROOT / "dags", path / "dags", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return path


def _session_processes(sid: int) -> list[Any]:
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if os.getsid(process.pid) == sid:
                found.append(process)
        except (ProcessLookupError, PermissionError):
            continue
    return found


def _stop_session(sid: int, grace: float = 5) -> tuple[str, ...]:
    """Stop every process of the session ``sid``; returns those still running ``grace`` seconds
    after the page ended (a process the page stopped itself may take a moment to exit). They get
    SIGTERM, then SIGKILL 10 s later."""
    import psutil

    _, left = psutil.wait_procs(_session_processes(sid), timeout=grace)
    names = tuple(" ".join(p.info.get("cmdline") or [])[:120] for p in left)
    for process in left:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(left, timeout=10)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=5)
    # Children of the stopped processes (a server's workers) that were not caught above.
    for process in _session_processes(sid):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    return names


def run_shell(
    shell_samples: list[Sample],
    cwd: Path,
    airflow_home: Path,
    timeout: float = 240,
    harness_dir: Path | None = None,
) -> ShellRun:
    """Run the shell samples of one page in order as one ``bash -e`` session in ``cwd``; then
    stop every process the session left running."""
    page = shell_samples[0].page if shell_samples else "?"
    harness = harness_dir or cwd.parent / f"harness-{uuid.uuid4().hex[:8]}"
    blocks = harness / "blocks"
    blocks.mkdir(parents=True, exist_ok=True)
    failed_file = harness / "failed"
    lines = [
        # Which block was running when a command failed, and which command: for the failure message.
        f'trap \'printf "block %s, line %s: %s\\n" "$__docs_block" "$LINENO" "$BASH_COMMAND" > {_quote(failed_file)}\' ERR',
    ]
    for index, sample in enumerate(s for s in shell_samples if s.runs and s.kind == "shell"):
        block = blocks / f"{index:02d}-{Path(sample.page).name}-line-{sample.line}.sh"
        # Padded so that bash's messages give the page's line numbers.
        block.write_text("\n" * sample.line + sample.source, encoding="utf-8")
        lines.append(f"__docs_block={_quote(sample.where)}")
        lines.append(f"source {_quote(block)}")
    script = harness / "page.sh"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log = harness / "output.log"
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-e", str(script)],
            cwd=cwd,
            env=shell_env(airflow_home),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            returncode = -1
            failed_file.write_text(f"timed out after {timeout:.0f} s\n", encoding="utf-8")
        finally:
            leftovers = _stop_session(process.pid)
            process.wait(timeout=30)
    seconds = time.monotonic() - started
    failed = failed_file.read_text(encoding="utf-8").strip() if failed_file.exists() else ""
    output = log.read_text(encoding="utf-8", errors="replace")
    return ShellRun(page, returncode, output, cwd, seconds, failed if returncode else "", leftovers)


def _quote(value: object) -> str:
    return "'" + str(value).replace("'", "'\\''") + "'"
