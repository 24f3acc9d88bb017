"""Each example DAG, run as shipped with ``dag.test()`` (tasks in process, triggers inline) against
the emulator and a moto S3: the archived MP4s are read back from S3 and decoded."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from tests.airflow_harness import DagRunResult, run_dag_file
from tests.examples.conftest import DAGS, fitted, list_keys, read_s3
from tests.media import Mp4, mean_diff, read_mp4

pytestmark = pytest.mark.slow

#: Largest mean difference (0-255) between a decoded H.264 frame and the picture it shows.
SAME = 6.0
#: Smallest mean difference between two pictures that differ.
DIFFERENT = 15.0


@dataclass(frozen=True)
class Expected:
    """What the archived video of an example is: seconds, size, audio, and anything else to check."""

    seconds: float
    size: tuple[int, int]
    audio: bool
    keep: tuple[int, ...] = ()
    check: Callable[[DagRunResult, Mp4], None] | None = None


def sun_pixels(frame: np.ndarray) -> int:
    """How many pixels show the pale-yellow sun of ``landscape.png``."""
    r, g, b = (frame[..., i].astype(np.int16) for i in range(3))
    return int(((r > 200) & (g > 180) & (b < 180)).sum())


def veo(result: DagRunResult, video: Mp4) -> None:
    # Cropped, not padded: the portrait fills the 16:9 frame (no black bars at the sides).
    assert mean_diff(video.first, fitted("portrait.png", 1280, 720, "crop")) < SAME
    assert mean_diff(video.first, fitted("portrait.png", 1280, 720, "pad")) > DIFFERENT
    options = result.xcom("submit")["request"]["providerOptions"]["vertex"]
    assert options == {"generateAudio": True, "resizeMode": "crop"}


def first_and_last(video: Mp4, first: str, last: str) -> None:
    """The clip opens on ``first`` and ends on ``last`` (each nearer to its own picture than to the
    other by far: the two flowers differ only in their petals and the light)."""
    start, end = fitted(first, video.width, video.height), fitted(last, video.width, video.height)
    assert mean_diff(video.first, start) < SAME
    assert mean_diff(video.last, end) < SAME
    assert mean_diff(video.first, start) < mean_diff(video.first, end) / 3
    assert mean_diff(video.last, end) < mean_diff(video.last, start) / 3


def kling_first_last(result: DagRunResult, video: Mp4) -> None:
    first_and_last(video, "flower_open.png", "flower_dusk.png")
    assert result.xcom("submit")["request"]["providerOptions"]["klingai"]["imageTail"]["source"].endswith(
        "flower_dusk.png"
    )


def kling_camera(result: DagRunResult, video: Mp4) -> None:
    assert mean_diff(video.first, fitted("landscape.png", 1280, 720)) < SAME
    # zoom 5 widens the field of view: the camera pulls back and the sun shrinks.
    assert sun_pixels(video.last) < 0.8 * sun_pixels(video.first)


def kling_motion_brush(result: DagRunResult, video: Mp4) -> None:
    assert mean_diff(video.first, fitted("landscape.png", 1280, 720)) < SAME
    (mask,) = result.xcom("submit")["request"]["providerOptions"]["klingai"]["dynamicMasks"]
    assert mask["mask"]["source"].endswith("landscape_sun_mask.png")
    assert (mask["mask"]["width"], mask["mask"]["height"]) == (1280, 720)
    assert mask["trajectories"][0] == {"x": 945, "y": 535}


def kling_multi_shot(result: DagRunResult, video: Mp4) -> None:
    submitted = result.xcom("submit")
    shots = submitted["request"]["providerOptions"]["klingai"]["multiPrompt"]
    assert sum(int(s["duration"]) for s in shots) == submitted["request"]["duration"] == 6
    assert submitted["warnings"] == []  # the shots add up: no warning


def kling_voices(result: DagRunResult, video: Mp4) -> None:
    options = result.xcom("submit")["request"]["providerOptions"]["klingai"]
    assert options["sound"] == "on"
    assert options["voiceList"] == [{"voiceId": "your_voice_id"}]
    assert mean_diff(video.first, fitted("portrait.png", 720, 1280)) < SAME


def seedance_first_last(result: DagRunResult, video: Mp4) -> None:
    first_and_last(video, "flower_open.png", "flower_dusk.png")


def seedance_references(result: DagRunResult, video: Mp4) -> None:
    # The emulator shows each reference in turn for an equal share of the clip.
    for index, name in ((0, "cat.png"), (24, "city_night.png"), (48, "landscape.png")):
        assert mean_diff(video.kept.get(index, video.first), fitted(name, 1280, 720)) < SAME, name
    request = result.xcom("submit")["request"]
    assert "image" not in request.get("prompt", {})
    assert len(request["providerOptions"]["bytedance"]["referenceImages"]) == 3


EXAMPLES = {
    "example_veo_audio_crop": Expected(4, (1280, 720), True, check=veo),
    "example_kling_first_last_frame": Expected(5, (720, 720), False, check=kling_first_last),
    "example_kling_camera_control": Expected(5, (1280, 720), False, check=kling_camera),
    "example_kling_motion_brush": Expected(5, (1280, 720), False, check=kling_motion_brush),
    "example_kling_multi_shot": Expected(6, (1280, 720), False, check=kling_multi_shot),
    "example_kling_voices": Expected(5, (720, 1280), True, check=kling_voices),
    "example_wan_audio": Expected(3, (1280, 720), True),
    "example_grok_aspect_ratio": Expected(3, (720, 720), False),
    "example_seedance_first_last_frame": Expected(3, (720, 720), False, check=seedance_first_last),
    "example_seedance_multi_reference": Expected(3, (1280, 720), False, (24, 48), seedance_references),
}


@pytest.mark.parametrize("dag_id", list(EXAMPLES))
def test_example_dag(emulator: EmulatorProcess, example_bucket: str, s3_client: Any, dag_id: str) -> None:
    expected = EXAMPLES[dag_id]
    billed = emulator.stats()["starts_billed"]
    result = run_dag_file(DAGS / f"{dag_id}.py", dag_id)
    assert result.state == "success", result.states
    assert set(result.states.values()) == {"success"}
    assert emulator.stats()["starts_billed"] - billed == 1

    archived = result.xcom("archive")
    (entry,) = archived["videos"]
    assert entry["s3_uri"].startswith(f"s3://{example_bucket}/examples/{dag_id}/")
    data = read_s3(s3_client, entry["s3_uri"])
    video = read_mp4(data, keep=expected.keep)
    assert video.fps == 24
    assert video.frames == round(expected.seconds * 24)
    assert (video.width, video.height) == expected.size
    assert video.has_audio is expected.audio
    sidecar = json.loads(read_s3(s3_client, entry["sidecar_s3_uri"]))
    assert sidecar["airflow"]["dag_id"] == dag_id
    assert sidecar["video"]["sha256"] == entry["sha256"]
    if expected.check is not None:
        expected.check(result, video)


def test_seedance_clip_chain(emulator: EmulatorProcess, example_bucket: str, s3_client: Any) -> None:
    """Three clips, each starting from the previous clip's archived last frame, joined into one MP4."""
    dag_id = "example_seedance_clip_chain"
    billed = emulator.stats()["starts_billed"]
    result = run_dag_file(DAGS / f"{dag_id}.py", dag_id)
    assert result.state == "success", result.states
    assert emulator.stats()["starts_billed"] - billed == 3
    prefix = f"s3://{example_bucket}/examples/{dag_id}/"

    archives = [result.xcom(f"archive_{n}") for n in (1, 2, 3)]
    clips = [read_mp4(read_s3(s3_client, a["videos"][0]["s3_uri"])) for a in archives]
    assert [c.frames for c in clips] == [72, 72, 72]
    assert all(a["videos"][0]["s3_uri"].startswith(prefix) for a in archives)
    # Clip 2 starts from clip 1's archived last frame, clip 3 from clip 2's.
    for number in (2, 3):
        image = result.xcom(f"submit_{number}")["request"]["prompt"]["image"]
        assert image == {"source": archives[number - 2]["last_frame_s3_uri"]}
    assert mean_diff(clips[1].first, clips[0].last) < SAME
    assert mean_diff(clips[2].first, clips[1].last) < SAME
    assert mean_diff(clips[0].first, fitted("landscape.png", 1280, 720)) < SAME
    assert mean_diff(clips[0].first, clips[2].last) > 5.0  # the push-ins add up over the chain

    joined = result.xcom("join")
    assert joined["s3_uri"].startswith(prefix)
    assert joined["s3_uri"].endswith(".mp4")
    data = read_s3(s3_client, joined["s3_uri"])
    assert len(data) == joined["size"]
    whole = read_mp4(data, keep=(72, 144))
    total = sum(c.duration for c in clips)
    assert abs(whole.duration - total) <= len(clips) / 24
    assert joined["duration_s"] == pytest.approx(total, abs=len(clips) / 24)
    assert (whole.width, whole.height, whole.fps) == (1280, 720, 24)
    # The joints: frame 72 is clip 2's first frame, frame 144 clip 3's.
    assert mean_diff(whole.kept[72], clips[1].first) < 1.0
    assert mean_diff(whole.kept[144], clips[2].first) < 1.0
    assert mean_diff(whole.last, clips[2].last) < 1.0

    keys = list_keys(s3_client, example_bucket, f"examples/{dag_id}/")
    assert sum(k.endswith("/video-0.mp4") for k in keys) == 3
    assert sum(k.endswith("/last-frame.png") for k in keys) == 3
