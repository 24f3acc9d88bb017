"""Arbitrary calls to from_sdk_call: only InvalidVideoRequest ever escapes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_video_gen.families import BUILT_IN_FAMILIES
from airflow_video_gen.models import InvalidVideoRequest, VideoRequest
from airflow_video_gen.request.checks import CALL_KEYS

MODELS = [m for f in BUILT_IN_FAMILIES for m in f.models]
OPTION_KEYS = sorted({k for f in BUILT_IN_FAMILIES for k in f.option_fields()} | {"imageTail", "bogus"})

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["https://example.com/a.png", "s3://bucket/key.png", "data:image/png;base64,AAAA", "on", "pro"]
    ),
    st.binary(max_size=40),
)
json_like = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
options = st.dictionaries(st.sampled_from(OPTION_KEYS), json_like, max_size=5)
provider_options = st.dictionaries(
    st.sampled_from(["vertex", "klingai", "alibaba", "xai", "bytedance", "gateway", "other"]),
    options | json_like,
    max_size=3,
)
calls = st.one_of(
    json_like,
    st.fixed_dictionaries(
        {},
        optional={
            **{k: json_like for k in CALL_KEYS},
            "prompt": st.one_of(
                json_like, st.fixed_dictionaries({}, optional={"image": json_like, "text": json_like})
            ),
            "providerOptions": provider_options,
        },
    ),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.one_of(st.sampled_from(MODELS), st.text(max_size=20)), call=calls)
def test_only_invalid_video_request_escapes(model: str, call: Any) -> None:
    refused: InvalidVideoRequest | None = None
    try:
        request = VideoRequest.from_sdk_call(model, call, allow_local_paths=False)
    except InvalidVideoRequest as exc:
        refused = exc
    else:
        if not request.s3_uris():
            request.to_gateway_body()
        request.describe()
        request.fingerprint()
    if refused is not None:
        assert refused.errors
        assert all(set(e) == {"param", "message"} and e["message"] for e in refused.errors)
