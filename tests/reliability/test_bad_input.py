"""Bad input is refused before any network call, with a message naming the parameter, the model and
what is allowed; arbitrary operator parameters never crash the operators; hostile inputs (path
traversal, foreign URL schemes, decompression bombs, endless downloads) are refused clearly.

The error contract, as the fuzzing below enforces it:

- building an operator raises :class:`~airflow_video_gen.models.InvalidVideoRequest` (a
  ``ValueError``) for a request that breaks a documented constraint, whatever Python types its
  parameters have; StageImageOperator raises ``ValueError`` for an unusable ``dest_s3_uri``,
  ``max_side`` below 1 or a ``pad_color`` Pillow does not know; Airflow raises ``TypeError`` for a
  keyword the operator does not take;
- running one raises ``AirflowFailException`` (fail, no retry) for anything no retry can fix: its
  ``__cause__`` is the ``InvalidVideoRequest`` for a request checked at run time (templated
  values), the image's problem for an unusable image, or the gateway's refusal; and
  ``AirflowException`` (retried) only for transport trouble;
- nothing else escapes: no ``KeyError``, ``AttributeError``, bare ``TypeError`` or library error.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import threading
import time
import typing
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.families import BUILT_IN_FAMILIES
from airflow_video_gen.models import InvalidVideoRequest
from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.staging import StageImageOperator
from airflow_video_gen.operators.submit import (
    TOP_LEVEL,
    BaseVideoSubmitOperator,
    GatewaySubmitOperator,
    GrokSubmitOperator,
    KlingSubmitOperator,
    SeedanceSubmitOperator,
    VeoSubmitOperator,
    WanSubmitOperator,
)
from tests.imaging import make_image
from tests.media import ImageHost
from tests.reliability.conftest import AWS_CONN, leftovers, report, use_gateway
from tests.s3.conftest import task_context
from tests.s3.servers import FileHost, Served, make_mp4
from tests.unit.test_constraints import _OTHER_MODEL, CASES

FAMILY_OPERATORS: dict[str, type[BaseVideoSubmitOperator]] = {
    "veo": VeoSubmitOperator,
    "kling": KlingSubmitOperator,
    "wan": WanSubmitOperator,
    "grok": GrokSubmitOperator,
    "seedance": SeedanceSubmitOperator,
}
SUBMIT_OPERATORS: list[type[BaseVideoSubmitOperator]] = [*FAMILY_OPERATORS.values(), GatewaySubmitOperator]
CAMEL_TO_SNAKE = {camel: snake for snake, camel in TOP_LEVEL.items()}
MODELS = [m for f in BUILT_IN_FAMILIES for m in f.models]
PROVIDER_KEYS = sorted({f.provider_key for f in BUILT_IN_FAMILIES} | {"gateway"})
OPTION_KEYS = sorted({k for f in BUILT_IN_FAMILIES for k in f.option_fields()} | {"bogus"})


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def watched_gateway(airflow_home: Path) -> Iterator[EmulatorProcess]:
    """An emulator whose counters prove that refused requests never reached it."""
    with EmulatorProcess(latency=0.5) as emulator:
        use_gateway(emulator, "ai_gateway_rel_input")
        yield emulator


class RefusingGateway:
    """A loopback gateway that answers every call 400 ``invalid_request_error`` at once, counting
    them: the fuzzing's requests that pass every check end there, quickly and without a bill."""

    def __init__(self) -> None:
        self.calls = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                owner.calls += 1
                self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.dumps(
                    {"error": {"message": "refused by the test", "type": "invalid_request_error"}}
                )
                self.send_response(400)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v4/ai"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def refusing_gateway(airflow_home: Path) -> Iterator[RefusingGateway]:
    gateway = RefusingGateway()
    os.environ["AIRFLOW_CONN_AI_GATEWAY_REL_REFUSING"] = json.dumps(
        {
            "conn_type": "ai_gateway",
            "host": gateway.base_url,
            "password": "unused-key",
            "extra": {"verify": False},
        }
    )
    yield gateway
    gateway.stop()


# ------------------------------------------------------------------------------------ constraints


def operator_kwargs(call: dict[str, Any]) -> dict[str, Any]:
    """An AI SDK call as the operators' keywords: ``prompt`` -> ``image``/``text``, top-level
    settings in snake_case, ``providerOptions`` -> ``provider_options``; anything else as given."""
    out: dict[str, Any] = {}
    for key, value in call.items():
        if key == "prompt":
            if isinstance(value, dict):
                out.update({k: v for k, v in value.items() if k in ("image", "text") and v is not None})
            else:
                out["text"] = value
        elif key == "providerOptions":
            out["provider_options"] = value
        else:
            out[CAMEL_TO_SNAKE.get(key, key)] = value
    return out


def _check_refusal(exc: InvalidVideoRequest, model: str, params: tuple[str, ...], says: str) -> None:
    messages = {e["param"]: e["message"] for e in exc.errors}
    (param,) = [p for p in params if p in messages] or [params[0]]
    assert param in messages, exc.errors
    assert model in messages[param]
    if param == params[0]:  # a bound option says what is allowed in its own words
        assert says in str(exc), str(exc)


def expected_params(operator: type[BaseVideoSubmitOperator], param: str) -> tuple[str, ...]:
    """The parameter an error names: as the call names it, or, where the family's operator binds a
    top-level keyword to its own option (Veo's ``generate_audio`` is ``providerOptions.vertex
    .generateAudio``), as that option."""
    family = operator.family
    snake = CAMEL_TO_SNAKE.get(param)
    if family is not None and snake in family.keywords():
        return (param, f"providerOptions.{family.provider_key}.{param}")
    return (param,)


#: Constraints read from an image's bytes (decodable, format, size, sides, aspect): checked when the
#: task runs, since no image is decoded while a DAG file is parsed.
READ_FROM_IMAGE_BYTES = frozenset(
    {
        "image-bytes-decodable",
        "kling-mask-format",
        "kling-mask-aspect",
        "kling-masks-same-size",
        "kling-image-format",
        "kling-image-min-side",
        "kling-image-aspect",
        "kling-image-tail-rules",
    }
)


def test_every_documented_constraint_is_refused_by_the_operators_before_any_call(
    watched_gateway: EmulatorProcess,
) -> None:
    counted = {"at_parse": 0, "at_run": 0, "unknown_keyword": 0}
    for case_id, model, _, bad, param, says in CASES:
        case = case_id.replace("+", "plus")
        bad_model = _OTHER_MODEL.get(case_id, model)
        kwargs = operator_kwargs(bad)
        family = next(f for f in BUILT_IN_FAMILIES if bad_model in f.models)
        for operator in (GatewaySubmitOperator, FAMILY_OPERATORS[family.name]):
            common = {"gateway_conn_id": "ai_gateway_rel_input", "aws_conn_id": AWS_CONN}
            if any(k not in operator_kwargs_allowed(operator) for k in kwargs):
                # The call has a key no operator keyword stands for: Airflow refuses the keyword.
                with pytest.raises(TypeError, match="got unknown keyword argument") as info:
                    operator(task_id=f"{case}_literal", model=bad_model, **kwargs, **common)
                assert all(k in str(info.value) for k in kwargs if k not in operator_kwargs_allowed(operator))
                counted["unknown_keyword"] += 1
                continue
            if case_id in READ_FROM_IMAGE_BYTES:
                # No image is decoded while a DAG file is parsed: refused when the task runs.
                literal = operator(task_id=f"{case}_literal", model=bad_model, **kwargs, **common)
                with pytest.raises(AirflowFailException) as failed_literal:
                    literal.execute(task_context(f"{case}_literal"))
                assert isinstance(failed_literal.value.__cause__, InvalidVideoRequest)
                _check_refusal(
                    failed_literal.value.__cause__, bad_model, expected_params(operator, param), says
                )
                counted["at_run"] += 1
                continue
            # Literal values: refused while the DAG file is parsed.
            with pytest.raises(InvalidVideoRequest) as refused:
                operator(task_id=f"{case}_literal", model=bad_model, **kwargs, **common)
            _check_refusal(refused.value, bad_model, expected_params(operator, param), says)
            counted["at_parse"] += 1
            # Templated values: rendered by the task, refused when it runs, as a failure without retry.
            op = operator(task_id=f"{case}_templated", model="{{ params.model }}", **kwargs, **common)
            context = {**task_context(f"{case}_templated"), "params": {"model": bad_model}}
            op.render_template_fields(context)
            with pytest.raises(AirflowFailException) as failed:
                op.execute(context)
            assert isinstance(failed.value.__cause__, InvalidVideoRequest)
            _check_refusal(failed.value.__cause__, bad_model, expected_params(operator, param), says)
            counted["at_run"] += 1
    stats = watched_gateway.stats()
    assert stats["start_calls"] == stats["polls_served"] == stats["generate_calls"] == 0
    assert stats["faults"] == {}
    report(
        "bad_input_constraints",
        constraint_cases=len(CASES),
        refused_at_parse=counted["at_parse"],
        refused_at_run=counted["at_run"],
        refused_as_unknown_keyword=counted["unknown_keyword"],
        gateway_calls=stats["start_calls"] + stats["polls_served"],
    )


def operator_kwargs_allowed(operator: type[BaseVideoSubmitOperator]) -> set[str]:
    names = {"model", "image", "text", *TOP_LEVEL, "provider_options"}
    if operator.family is not None:
        names |= set(operator.family.keywords())
    return names


# ------------------------------------------------------------------------------------ fuzzing

PNG = make_image(400, 300)
SMALL_PNG = make_image(120, 90)
FUZZ_CASES = 10_000
#: Examples per operator: the six submit operators share 9,300, StageImageOperator gets 700 (a
#: staging that succeeds writes to S3 through two new S3 clients, over half a second).
EXAMPLES = {op.__name__: 1_550 for op in SUBMIT_OPERATORS} | {"StageImageOperator": 700}
assert sum(EXAMPLES.values()) == FUZZ_CASES

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["720p", "1080p", "16:9", "9:16", "pro", "std", "on", "crop", "pad", "480p", "5"]),
    st.binary(max_size=24),
)
json_like = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)


def mostly(
    value: st.SearchStrategy[Any], other: st.SearchStrategy[Any] = json_like
) -> st.SearchStrategy[Any]:
    """``value`` four times out of five, ``other`` the fifth (``one_of`` would treat them alike)."""
    return st.integers(0, 4).flatmap(lambda i: value if i else other)


def image_values(host: ImageHost, bucket: str) -> st.SearchStrategy[Any]:
    """Images a caller may pass, usable ones four times out of five, then anything at all."""
    usable = st.sampled_from(
        [
            PNG,
            base64.b64encode(PNG).decode(),
            "data:image/png;base64," + base64.b64encode(PNG).decode(),
            host.url("landscape.png"),
            {"type": "url", "url": host.url("portrait.jpg")},
            {"type": "file", "mediaType": "image/png", "data": base64.b64encode(PNG).decode()},
        ]
    )
    hostile = st.sampled_from(
        [
            SMALL_PNG,
            host.url("not-an-image.png"),
            "s3://bucket/a/../../etc/passwd",
            "file:///etc/passwd",
            "ftp://example.invalid/a.png",
            "javascript:alert(1)",
            b"\x89PNG not really",
        ]
    )
    return st.integers(0, 4).flatmap(lambda i: usable if i < 3 else hostile if i == 3 else json_like)


def _plausible(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of an option's declared type (``Literal`` choices, booleans, numbers, text)."""
    args = typing.get_args(annotation)
    literals = [
        a for arg in (annotation, *args) for a in typing.get_args(arg) if typing.get_origin(arg) is Literal
    ]
    if literals:
        return st.sampled_from(literals)
    if bool in args or annotation is bool:
        return st.booleans()
    if float in args:
        return st.floats(-1, 2)
    if str in args:
        return st.sampled_from(["blur, text", "customize", "https://example.invalid/a.mp3", "x" * 3000])
    return json_like


def submit_params(
    operator: type[BaseVideoSubmitOperator], images: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """An operator's parameters: plausible values four times out of five, then anything."""
    family = operator.family
    models = list(family.models) if family else MODELS
    plausible: dict[str, st.SearchStrategy[Any]] = {
        "model": st.sampled_from(models),
        "image": images,
        "text": st.sampled_from(["The cat blinks", "[Image 1] waves", "x" * 3000, ""]),
        "n": st.integers(0, 3),
        "duration": st.integers(0, 16),
        "resolution": st.sampled_from(["480p", "720p", "1080p", "1280x720", "854x480", "4k"]),
        "aspect_ratio": st.sampled_from(["16:9", "9:16", "1:1", "adaptive", "wide"]),
        "fps": st.sampled_from([24, 30, 23.5]),
        "seed": st.integers(-1, 2**32),
        "generate_audio": st.booleans(),
        "provider_options": st.fixed_dictionaries(
            {},
            optional={
                key: st.dictionaries(st.sampled_from(OPTION_KEYS), json_like, max_size=2)
                for key in PROVIDER_KEYS
            },
        ),
        "wait_for_completion": st.booleans(),
    }
    if family is not None:
        fields = family.options_model.model_fields
        for name in family.keywords():
            image_like = name in ("image_tail", "static_mask", "last_frame_image")
            plausible[name] = images if image_like else _plausible(fields[name].annotation)
        if "reference_images" in plausible:
            plausible["reference_images"] = st.lists(images, max_size=5)
    # A model, a start image and a prompt nearly always, then up to four more parameters (plausible values
    # four times out of five): enough valid requests reach the gateway to exercise the whole path.
    either = {name: mostly(value) for name, value in plausible.items()}
    base = st.fixed_dictionaries(
        {"model": either.pop("model"), "image": either.pop("image"), "text": either.pop("text")}
    )
    extras = st.lists(st.sampled_from(sorted(either)), max_size=4, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({name: either[name] for name in names})
    )
    return st.builds(lambda b, e: {**b, **e}, base, extras)


def stage_params(images: st.SearchStrategy[Any], bucket: str) -> st.SearchStrategy[dict[str, Any]]:
    # A valid destination one time in five: staging that succeeds costs two S3 clients (a quarter
    # of a second each), and the checks before it are what fuzzing is for.
    dest = st.sampled_from(
        [f"s3://{bucket}/in/", f"s3://{bucket}/a/../b/", "s3://x", "/tmp/", f"s3://{bucket}/./in/"]
    )
    return st.fixed_dictionaries(
        {"image": images, "dest_s3_uri": mostly(dest, st.text(max_size=20))},
        optional={
            "model": st.one_of(st.none(), st.sampled_from(MODELS), st.text(max_size=12)),
            "family": st.one_of(st.none(), st.sampled_from([*(f.name for f in BUILT_IN_FAMILIES), "sora"])),
            "fix": st.booleans(),
            "max_side": st.one_of(st.none(), st.integers(-5, 5000)),
            "pad_color": st.sampled_from(["black", "white", "#336699", "not-a-colour"]),
            "max_bytes": st.integers(0, 100_000),
        },
    )


def _run(op: Any, task_id: str) -> str:
    """Execute an operator; return how it ended ("ok", or the exception class name)."""
    try:
        op.execute(task_context(task_id))
    except AirflowFailException:
        return "AirflowFailException"
    except AirflowException:
        return "AirflowException"
    return "ok"


@pytest.mark.slow
@pytest.mark.parametrize("operator", [*SUBMIT_OPERATORS, StageImageOperator], ids=lambda o: o.__name__)
def test_fuzzed_operator_parameters_raise_only_the_documented_errors(
    operator: type[Any],
    refusing_gateway: RefusingGateway,
    image_host: ImageHost,
    rel_s3: LocalS3,
    rel_bucket: str,
) -> None:
    outcomes: dict[str, int] = {}
    images = image_values(image_host, rel_bucket)
    is_stage = operator is StageImageOperator
    strategy = stage_params(images, rel_bucket) if is_stage else submit_params(operator, images)
    calls_before = refusing_gateway.calls
    began = time.monotonic()

    @settings(
        max_examples=EXAMPLES[operator.__name__],
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(params=strategy)
    def check(params: dict[str, Any]) -> None:
        common = {"aws_conn_id": AWS_CONN} | (
            {} if is_stage else {"gateway_conn_id": "ai_gateway_rel_refusing"}
        )
        refused: ValueError | None = None
        try:
            op = operator(task_id="fuzzed", **params, **common)
        except ValueError as exc:  # InvalidVideoRequest is one
            refused = exc
        if isinstance(refused, InvalidVideoRequest):
            assert refused.errors
            assert all(e["param"] and e["message"] for e in refused.errors)
            outcome = "InvalidVideoRequest at parse"
        elif refused is not None:
            # Settings that are not part of the request: a staging destination, size or colour,
            # or no model at all for the operator that has no default one.
            assert is_stage or "needs a model id" in str(refused), f"{type(refused).__name__}: {refused}"
            outcome = "ValueError at parse"
        else:
            outcome = _run(op, "fuzzed")
            assert outcome in ("ok", "AirflowFailException") or (is_stage and outcome == "AirflowException")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    check()
    report(
        "fuzz",
        operator=operator.__name__,
        examples=sum(outcomes.values()),
        outcomes=outcomes,
        reached_gateway=refusing_gateway.calls - calls_before,
        seconds=round(time.monotonic() - began, 1),
    )


# ------------------------------------------------------------------------------------ hostile input


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (2.5 gigapixels by default)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 8)  # a few rows; a decoder would want all of them
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_hostile_inputs_are_refused_with_a_clear_error(
    watched_gateway: EmulatorProcess, rel_s3: LocalS3, rel_bucket: str, tmp_path: Path
) -> None:
    refused: list[tuple[str, str]] = []
    stage_common = {"aws_conn_id": AWS_CONN}
    submit_common = {"gateway_conn_id": "ai_gateway_rel_input", "aws_conn_id": AWS_CONN}

    def stage_fails(name: str, says: str, **params: Any) -> str:
        params.setdefault("dest_s3_uri", f"s3://{rel_bucket}/staged/")
        op = StageImageOperator(task_id="hostile", **params, **stage_common)
        began = time.monotonic()
        with pytest.raises(AirflowFailException) as info:
            op.execute(task_context("hostile"))
        assert time.monotonic() - began < 15, f"{name} took {time.monotonic() - began:.1f} s to refuse"
        assert says in str(info.value), str(info.value)
        refused.append((name, str(info.value).splitlines()[0][:160]))
        return str(info.value)

    # Path traversal in S3 keys: refused when the operator is built, or when it runs if templated.
    for uri in (
        "s3://bucket/a/../../etc/passwd",
        "s3://bucket/videos/..",
        "s3://bucket/./x/",
        "s3://bucket/a\\..\\b/",
    ):
        with pytest.raises(ValueError, match="unsafe key"):
            StageImageOperator(task_id="traversal", image=PNG, dest_s3_uri=uri, **stage_common)
        with pytest.raises(ValueError, match="unsafe key"):
            ArchiveVideoOperator(task_id="traversal", generation={}, dest_s3_uri=uri.rstrip("/") + "/")
        refused.append((f"dest {uri}", "unsafe key (path traversal or control characters)"))
    templated = StageImageOperator(
        task_id="traversal_templated", image=PNG, dest_s3_uri="{{ params.dest }}", **stage_common
    )
    context = {**task_context("traversal_templated"), "params": {"dest": f"s3://{rel_bucket}/a/../../etc/"}}
    templated.render_template_fields(context)
    with pytest.raises(AirflowFailException, match="unsafe key"):
        templated.execute(context)
    stage_fails("stage_traversal_source", "unsafe key", image=f"s3://{rel_bucket}/a/../../etc/passwd.png")
    submit = GrokSubmitOperator(
        task_id="submit_traversal", image=f"s3://{rel_bucket}/a/../../etc/passwd.png", **submit_common
    )
    with pytest.raises(AirflowFailException, match="unsafe key"):
        submit.execute(task_context("submit_traversal"))
    # Ids from the gateway become single key segments: an archive never writes outside its prefix.
    with FileHost() as cdn:
        video = cdn.add("v.mp4", Served(data=make_mp4(0.5)))
        generation = {
            "model": "../../../etc/passwd",
            "operation": {"gatewayJobId": "../x"},
            "idempotency_key": "../../outside",
            "videos": [{"type": "url", "url": video, "mediaType": "video/mp4"}],
        }
        archived = ArchiveVideoOperator(
            task_id="archive_traversal",
            generation=generation,
            dest_s3_uri=f"s3://{rel_bucket}/archive/",
            aws_conn_id=AWS_CONN,
            gateway_conn_id="ai_gateway_rel_input",
            contact_sheet_tiles=0,
        ).execute(task_context("archive_traversal"))
    stored, _ = leftovers(rel_s3, rel_bucket)
    assert stored
    assert all(k.startswith("archive/etc-passwd/outside/") for k in stored), stored
    assert archived["videos"][0]["s3_uri"].startswith(f"s3://{rel_bucket}/archive/etc-passwd/outside/")

    # URL schemes other than http(s) and s3: refused at parse time, and at run time when templated.
    passwd = (
        Path("/etc/passwd").read_text(errors="replace")[:40] if Path("/etc/passwd").exists() else "root:x:0"
    )
    for url, says in (
        ("file:///etc/passwd", "takes image URLs only, not a local file"),
        ("ftp://example.invalid/cat.png", "URL scheme 'ftp' is not supported"),
        ("gopher://example.invalid/1", "URL scheme 'gopher' is not supported"),
        ("javascript:alert(1)", "not a URL, s3:// URI"),
    ):
        for operator in (KlingSubmitOperator, SeedanceSubmitOperator):
            # A local file is the worker's to read (KlingAI takes image data): refused when the task
            # runs, below, as no image; a URL-only family refuses it at once.
            reads_files = url.startswith("file://") and operator is KlingSubmitOperator
            if "javascript" not in url and not reads_files:
                with pytest.raises(InvalidVideoRequest, match=says) as info:
                    operator(task_id="scheme", image=url, **submit_common)
                assert info.value.errors[0]["param"] == "prompt.image"
            op = operator(task_id="scheme_templated", image="{{ params.image }}", **submit_common)
            context = {**task_context("scheme_templated"), "params": {"image": url}}
            op.render_template_fields(context)
            with pytest.raises(AirflowFailException) as failed:
                op.execute(context)
            assert isinstance(failed.value.__cause__, InvalidVideoRequest)
            assert passwd not in str(failed.value)
        message = stage_fails(f"stage {url}", "StageImageOperator image=", image=url)
        assert passwd not in message
        refused.append((f"image {url}", str(failed.value).splitlines()[-1][:160]))

    # A decompression bomb: a 200-byte PNG declaring 50,000 x 50,000 pixels.
    bomb = bomb_png()
    assert len(bomb) < 4096
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    stage_fails("stage_bomb_file", "too many pixels to decode safely", image=str(path))
    stage_fails(
        "stage_bomb_fixed", "too many pixels to decode safely", image=str(path), fix=True, max_side=1024
    )
    # No image is decoded while a DAG file is parsed: the bomb is refused when the task runs, before
    # any call.
    bombed = KlingSubmitOperator(task_id="bomb", image=bomb, **submit_common)
    with pytest.raises(AirflowFailException, match="too many pixels") as failed_bomb:
        bombed.execute(task_context("bomb"))
    assert "klingai/kling-v2.6-i2v" in str(failed_bomb.value)
    host = ImageHost({"bomb.png": (bomb, "image/png")}).start()
    try:
        stage_fails("stage_bomb_url", "too many pixels to decode safely", image=host.url("bomb.png"))
    finally:
        host.stop()

    # A 2 GiB "image": refused from its Content-Length, or after 50 MiB when it does not say.
    with FileHost() as files:
        huge = files.add("huge.png", Served(media_type="image/png", head=PNG, size=2 * 1024**3))
        endless = files.add(
            "endless.png", Served(media_type="image/png", head=PNG, size=2 * 1024**3, announce_length=False)
        )
        stage_fails("stage_2gib_announced", "is 2,147,483,648 bytes (Content-Length)", image=huge)
        stage_fails("stage_2gib_unannounced", "sent more than 52,428,800 bytes; refused", image=endless)

    stats = watched_gateway.stats()
    assert stats["start_calls"] == 0
    assert leftovers(rel_s3, rel_bucket, "staged/") == ([], [])
    report(
        "hostile_inputs",
        refused=len(refused),
        cases=[name for name, _ in refused],
        gateway_calls=stats["start_calls"],
    )
