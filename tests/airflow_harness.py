"""Run DAGs for real in tests: ``dag.test()`` from a DAG file, then read states, XComs and logs."""

from __future__ import annotations

import atexit
import fcntl
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

_MIGRATED = False


def _airflow_db_migrate(env: dict[str, str] | None = None) -> None:
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run(
        [str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stderr[-3000:]}")


#: A folder the processes of one test run share (``tests/conftest.py`` sets it for the run).
SHARED_DIR_ENV = "AVG_TESTS_SHARED_DIR"


def migrated_database() -> Path:
    """A SQLite metadata database as ``airflow db migrate`` leaves it in a new ``AIRFLOW_HOME``, made
    once per test run and copied wherever a migrated database is needed.

    The processes of one run (the xdist workers) share it through :data:`SHARED_DIR_ENV` and take
    turns under a file lock: the first runs the migration, the others find its result. The database
    holds no path and nothing of the environment it was made in (tables, the default pool, the log
    templates), so a copy is what a migration of its own would have made, timestamps aside.
    """
    shared = os.environ.get(SHARED_DIR_ENV)
    if shared:
        folder = Path(shared)
    else:  # outside a test run: this process's own
        folder = Path(tempfile.mkdtemp(prefix="avg-airflow-db-"))
        os.environ[SHARED_DIR_ENV] = str(folder)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    database = folder / "airflow.db"
    with open(folder / "airflow.db.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not database.exists():
            home = Path(tempfile.mkdtemp(prefix="migrate-", dir=folder))
            env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
            _airflow_db_migrate({**env, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
            (home / "airflow.db").replace(database)
            shutil.rmtree(home, ignore_errors=True)
    return database


def migrate_db() -> None:
    """Create this process's metadata database once: a copy of :func:`migrated_database`, or
    ``airflow db migrate`` if something already made a database there."""
    global _MIGRATED
    if _MIGRATED:
        return
    target = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    if os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or (target.exists() and target.stat().st_size):
        _airflow_db_migrate()
    else:
        shutil.copyfile(migrated_database(), target)
    _MIGRATED = True


@dataclass
class DagRunResult:
    """What a test reads after a run: the run's state and each task's state and XCom."""

    state: str
    states: dict[str, str]
    xcoms: dict[tuple[str, str, int], Any] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)
    run_id: str = ""

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        return self.xcoms.get((task_id, key, map_index))


def _test_dag_in(
    path: Path, dag_id: str, conf: dict[str, Any] | None, logical_date: datetime | None = None
) -> DagRunResult:
    """Load the DAG file at ``path`` (inside the DAGs folder), ``dag.test()`` ``dag_id``, collect.

    :param logical_date: The run's logical date; a second run with the same one replaces the first
        under the same run id, as clearing every task of a run does (default: now).
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.sdk import DAG
    from airflow.utils.session import create_session
    from sqlalchemy import select

    migrate_db()
    spec = importlib.util.spec_from_file_location(f"dag_file_{path.stem}_{dag_id}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dags = [v for v in vars(module).values() if isinstance(v, DAG) and v.dag_id == dag_id]
    assert dags, f"{path.name} defines no DAG {dag_id!r}"
    when = {"logical_date": logical_date, "run_after": logical_date} if logical_date else {}
    run = dags[0].test(run_conf=conf, **when)
    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        states = {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state) for ti in tis
        }
        tries = {ti.task_id: ti.try_number for ti in tis}
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run.run_id)
        ).all()
        xcoms = {(r.task_id, r.key, r.map_index): XComModel.deserialize_value(r) for r in rows}
    return DagRunResult(state=str(run.state), states=states, xcoms=xcoms, tries=tries, run_id=run.run_id)


def run_dag(
    source: str, dag_id: str, conf: dict[str, Any] | None = None, logical_date: datetime | None = None
) -> DagRunResult:
    """Write ``source`` as a DAG file, load it, run it with ``dag.test()`` and collect the results
    (``logical_date``: see :func:`_test_dag_in`)."""
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    path.write_text(textwrap.dedent(source))
    return _test_dag_in(path, dag_id, conf, logical_date)


def run_dag_file(path: str | Path, dag_id: str, conf: dict[str, Any] | None = None) -> DagRunResult:
    """Run the DAG ``dag_id`` of an existing DAG file as it is, with ``dag.test()``, and collect the
    results as :func:`run_dag` does for a source text.

    ``dag.test()`` syncs the DAG from a DAG bundle, so the file is linked (not copied) into this
    process's DAGs folder, with the folders beside it (such as ``sample_images/``), and loaded
    from there: ``Path(__file__).parent`` finds what it would find next to the original.
    """
    source = Path(path).resolve()
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    for item in [source, *(p for p in source.parent.iterdir() if p.is_dir() and p.name != "__pycache__")]:
        link = folder / item.name
        if link.is_symlink() and link.resolve() != item:
            link.unlink()
        if not link.exists():
            link.symlink_to(item, target_is_directory=item.is_dir())
    return _test_dag_in(folder / source.name, dag_id, conf)
