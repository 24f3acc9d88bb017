"""A misspelt or camelCase keyword gets a hint, not Airflow's bare "Invalid arguments were passed"."""

from __future__ import annotations

import pytest

from airflow_video_gen.models import InvalidVideoRequest
from airflow_video_gen.operators.submit import (
    GatewaySubmitOperator,
    KlingSubmitOperator,
    SeedanceSubmitOperator,
    VeoSubmitOperator,
)


def test_a_camel_case_keyword_names_its_snake_case_form() -> None:
    with pytest.raises(TypeError) as refused:
        KlingSubmitOperator(task_id="k", image="https://x.io/a.png", cameraControl={"type": "simple"})
    assert str(refused.value) == (
        "KlingSubmitOperator got unknown keyword argument(s): 'cameraControl' (did you mean "
        "'camera_control'?). Keywords are snake_case; the values of dict and list keywords keep the "
        "seed's camelCase keys (e.g. voice_list=[{'voiceId': ...}]). The raw camelCase options of "
        "KlingAI models go in provider_options."
    )


def test_a_misspelt_keyword_names_the_closest_one() -> None:
    with pytest.raises(TypeError, match=r"'retrun_last_frame' \(did you mean 'return_last_frame'\?\)"):
        SeedanceSubmitOperator(task_id="s", image="https://x.io/a.png", retrun_last_frame=True)
    with pytest.raises(TypeError, match=r"'durration' \(did you mean 'duration'\?\)"):
        GatewaySubmitOperator(task_id="g", model="xai/grok-imagine-video", durration=5)


def test_airflow_s_own_keywords_still_work() -> None:
    operator = KlingSubmitOperator(task_id="k", image="https://x.io/a.png", retries=2, pool="video")
    assert (operator.retries, operator.pool) == (2, "video")


def test_skip_if_archived_must_be_an_archive_prefix_at_parse_time() -> None:
    with pytest.raises(ValueError, match="skip_if_archived") as caught:
        KlingSubmitOperator(task_id="t", image="https://example.com/x.png", skip_if_archived="videos/")
    assert "dest_s3_uri of the ArchiveVideoOperator" in str(caught.value)
    # A template is checked once rendered; a prefix is accepted as it is.
    KlingSubmitOperator(
        task_id="u", image="https://example.com/x.png", skip_if_archived="{{ params.archive }}"
    )
    KlingSubmitOperator(
        task_id="v", image="https://example.com/x.png", skip_if_archived="s3://my-bucket/videos/"
    )


def test_literal_options_beside_a_template_are_checked_one_by_one() -> None:
    """A templated prompt leaves the request to run time; each literal option is still checked at
    parse time against its declared type, plain fields (no constraints) included."""
    veo = {"task_id": "v", "model": "google/veo-3.1-generate-001", "image": "s3://b/k.png"}
    VeoSubmitOperator(**veo, text="{{ params.prompt }}", enhance_prompt=False)
    with pytest.raises(InvalidVideoRequest, match=r"enhancePrompt: Input should be a valid boolean"):
        VeoSubmitOperator(**veo, text="{{ params.prompt }}", enhance_prompt="maybe")
