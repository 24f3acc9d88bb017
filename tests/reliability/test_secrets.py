"""The API key stays secret across a full run on a real Airflow, failure paths included: no task or
component log, XCom, trigger row (decrypted), task resume payload, rendered template field, other
metadata table or S3 object holds it in any encoding. And what travels between tasks stays small:
no base64 image or video in XCom, trigger rows or resume payloads."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.reliability.conftest import report
from tests.reliability.stack import BUCKET, SECRET_KEY, WRONG_KEY, Stack, TableWatcher, iter_key_forms

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]

DAG_ID = "reliability_secrets"
#: Largest XCom value, trigger kwargs or resume payload accepted (DESIGN.md: "a few KB").
SMALL = 8 * 1024
#: A run of base64 this long is a payload (an image or a video), not an id, hash or signature.
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{400,}={0,2}")


def _hits(blob: bytes, keys: list[bytes]) -> list[bytes]:
    return [k for k in keys if k in blob]


@pytest.mark.timeout(600)
def test_the_api_key_is_nowhere_and_no_payload_travels_between_tasks(stack: Stack) -> None:
    af = stack.af
    emulator = stack.emulators["secret"]
    forms = [form for key in (SECRET_KEY, WRONG_KEY) for form in iter_key_forms(key)]
    began = time.monotonic()
    run_id = af.trigger(DAG_ID)
    with TableWatcher(stack, "select id, classpath, kwargs from trigger") as triggers:
        af.wait_for_run(DAG_ID, run_id, timeout=300, poll=1)
    took = time.monotonic() - began
    states = dict(
        af.query("select task_id, state from task_instance where dag_id = ? and run_id = ?", (DAG_ID, run_id))
    )

    # The pipeline worked, with the distinctive key (the emulator accepts no other).
    assert states["stage"] == states["submit"] == states["wait"] == states["archive"] == "success", states
    assert states["submit_inline"] == "success", states
    assert emulator.stats()["starts_billed"] == 3  # submit, submit_inline, submit_missing_image
    # The failure paths ran, each failing with a message a user can act on.
    assert states["wait_missing_image"] == "failed"
    assert states["submit_wrong_key"] == "failed"
    assert states["submit_gateway_down"] == "failed"
    missing = stack.task_log(DAG_ID, run_id, "wait_missing_image")
    assert "Video generation error" in missing
    assert "missing.png" in missing
    assert "authentication_error: Invalid API key" in stack.task_log(DAG_ID, run_id, "submit_wrong_key")
    assert "Connection refused" in stack.task_log(DAG_ID, run_id, "submit_gateway_down")

    # 1. Every file under AIRFLOW_HOME/logs: task logs, trigger logs, each component's output.
    logs = stack.log_files()
    assert any("trigger" in p.name or "triggerer" in str(p) for p in logs)
    leaked = {str(p.relative_to(af.home)): _hits(p.read_bytes(), forms) for p in logs}
    assert not {p: h for p, h in leaked.items() if h}, "API key in logs"

    # 2. Trigger rows, as stored (encrypted) and decrypted; each one small and payload-free.
    assert {row[1] for row in triggers.rows} >= {
        "airflow_video_gen.triggers.generation.VideoGenerationTrigger"
    }
    decrypted = [stack.decrypt(row[2]) for row in triggers.rows]
    for stored, plain in zip((row[2] for row in triggers.rows), decrypted, strict=True):
        assert not _hits(stored.encode(), forms)
        assert not _hits(plain.encode(), forms), plain
        assert '"gateway_conn_id"' in plain  # the connection id travels, never the key
        assert len(plain) < SMALL
        assert not BASE64_RUN.search(plain.encode()), plain[:300]

    # 3. XCom, resume payloads (the trigger events), rendered template fields.
    xcoms = af.query("select task_id, key, value from xcom where dag_id = ? and run_id = ?", (DAG_ID, run_id))
    assert len(xcoms) >= 6
    for task_id, key, value in xcoms:
        blob = value if isinstance(value, bytes) else str(value).encode()
        assert not _hits(blob, forms), (task_id, key)
        assert len(blob) < SMALL, (task_id, key, len(blob))
        assert not BASE64_RUN.search(blob), (task_id, key, blob[:300])
    sensor = json.loads(next(v for t, k, v in xcoms if t == "wait" and k == "return_value"))
    assert sensor["videos"][0]["type"] == "base64"  # an inline video, listed by size only
    assert sensor["videos"][0]["size"] > 1000
    assert "data" not in sensor["videos"][0]
    resumes = af.query(
        "select task_id, next_kwargs from task_instance where dag_id = ? and run_id = ? and next_kwargs is not null",
        (DAG_ID, run_id),
    )
    for task_id, payload in resumes:
        blob = payload if isinstance(payload, bytes) else str(payload).encode()
        assert not _hits(blob, forms), task_id
        assert len(blob) < SMALL, (task_id, len(blob))
        assert not BASE64_RUN.search(blob), (task_id, blob[:300])
    rendered = af.query(
        "select task_id, rendered_fields from rendered_task_instance_fields where run_id = ?", (run_id,)
    )
    assert rendered
    for task_id, fields in rendered:
        assert not _hits(str(fields).encode(), forms), task_id

    # 4. Every other table and column of the metadata database.
    tables = [row[0] for row in af.query("select name from sqlite_master where type = 'table'")]
    scanned = 0
    for table in tables:
        for row in af.query(f'select * from "{table}"'):
            for value in row:
                if isinstance(value, (str, bytes)):
                    scanned += 1
                    blob = value if isinstance(value, bytes) else value.encode()
                    assert not _hits(blob, forms), f"API key in table {table}"

    # 5. Every object the run stored in S3: sidecars, videos, contact sheets, staged images.
    client = stack.s3.client()  # type: ignore[union-attr]
    keys = stack.s3_keys("secrets/")
    assert any(k.endswith(".json") for k in keys)
    for key in keys:
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert not _hits(body, forms), key
        if key.endswith(".json"):
            assert not BASE64_RUN.search(body), key

    report(
        "secrets",
        seconds_total=round(took, 1),
        log_files=len(logs),
        trigger_rows=len(triggers.rows),
        xcom_rows=len(xcoms),
        resume_payloads=len(resumes),
        rendered_field_rows=len(rendered),
        db_tables=len(tables),
        db_text_values=scanned,
        s3_objects=len(keys),
        key_forms_searched=len(forms),
        largest_xcom=max(len(str(v)) for _, _, v in xcoms),
    )
