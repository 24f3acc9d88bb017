"""``concat_mp4`` on real clips rendered by the emulator's encoder, and ``JoinVideosOperator`` on
a moto S3: packets copied in order, timestamps rebased, mismatches refused."""

from __future__ import annotations

import hashlib
import io
import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_video_gen.devtools.emulator.render import RenderSpec, render_video
from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.operators.join import JoinVideosOperator, clip_uris
from airflow_video_gen.utils.media import ConcatError, VideoReadError, concat_mp4
from tests.examples.conftest import SAMPLES, read_s3
from tests.s3.conftest import recorded_sha256

FPS = 24


def clip(
    folder: Path,
    name: str,
    image: str,
    *,
    seconds: float = 1.0,
    size: tuple[int, int] = (320, 180),
    fps: int = FPS,
    audio: bool = True,
) -> Path:
    path = folder / name
    spec = RenderSpec(
        images=((SAMPLES / image).read_bytes(),),
        width=size[0],
        height=size[1],
        duration=seconds,
        fps=fps,
        audio=audio,
    )
    render_video(spec, path)
    return path


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def timestamps(path: Path, kind: str) -> list[tuple[float, float]]:
    """(pts, dts) in seconds of every packet of the first stream of ``kind``, in file order."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [
            (float(p.pts * p.time_base), float(p.dts * p.time_base))
            for p in container.demux(stream)
            if p.dts is not None
        ]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    return [
        clip(folder, "a.mp4", "cat.png", seconds=1.0),
        clip(folder, "b.mp4", "city_night.png", seconds=0.5),
        clip(folder, "c.mp4", "flower_open.png", seconds=1.0),
    ]


def test_joined_clips_play_one_after_the_other(clips: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "joined.mp4"
    probe = concat_mp4(clips, out)

    parts = [frames(c) for c in clips]
    joined = frames(out)
    assert [len(p) for p in parts] == [24, 12, 24]
    # Packets are copied, not re-encoded: every decoded frame is bit-identical to its clip's.
    assert len(joined) == 60
    expected = [f for part in parts for f in part]
    assert all(np.array_equal(a, b) for a, b in zip(joined, expected, strict=True))

    assert (probe.width, probe.height, probe.fps, probe.codec) == (320, 180, FPS, "h264")
    assert probe.duration_s == pytest.approx(2.5, abs=1 / FPS)
    assert probe.has_audio
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert float(video.duration * video.time_base) == pytest.approx(2.5, abs=1e-6)
        assert float(audio.duration * audio.time_base) == pytest.approx(2.5, abs=1024 / 48_000)
        assert video.average_rate == FPS
    # The second clip's frames start exactly where the first clip ends; dts only grow.
    video_ts = timestamps(out, "video")
    assert sorted(pts for pts, _ in video_ts) == pytest.approx([i / FPS for i in range(60)])
    for kind in ("video", "audio"):
        dts = [d for _, d in timestamps(out, kind)]
        assert all(b > a for a, b in itertools.pairwise(dts)), kind


def test_one_clip_is_copied(clips: list[Path], tmp_path: Path) -> None:
    probe = concat_mp4([clips[0]], tmp_path / "one.mp4")
    assert probe.frames == 24
    assert all(
        np.array_equal(a, b) for a, b in zip(frames(tmp_path / "one.mp4"), frames(clips[0]), strict=True)
    )


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ({"size": (384, 216)}, "size is '384x216', input 0 has '320x180'"),
        ({"fps": 30}, "frame rate is '30', input 0 has '24'"),
        ({"audio": False}, "input 1 has streams ['video'], input 0 has ['video', 'audio']"),
    ],
)
def test_clips_that_differ_are_refused(
    clips: list[Path], tmp_path: Path, other: dict[str, Any], message: str
) -> None:
    odd = clip(tmp_path, "odd.mp4", "cat.png", seconds=0.5, **other)
    out = tmp_path / "joined.mp4"
    with pytest.raises(ConcatError, match=r"joined|joining") as caught:
        concat_mp4([clips[0], odd], out)
    assert message in str(caught.value)
    assert not out.exists()


_MEASURE = """
import resource, sys
from airflow_video_gen.utils.media import concat_mp4
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
probe = concat_mp4([sys.argv[1]] * int(sys.argv[3]), sys.argv[2])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base, probe.frames)
"""


def test_memory_stays_bounded_whatever_the_size(tmp_path: Path) -> None:
    """Four copies of a 34 MB clip (lossless noise: big packets) make a 136 MB MP4; the joining
    process grows by a few MB, not by the size of the clips."""
    noise = tmp_path / "noise.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(noise), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"preset": "ultrafast", "qp": "0"}
        for index in range(240):
            frame = av.VideoFrame.from_ndarray(
                rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), format="rgb24"
            )
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    out = tmp_path / "big.mp4"
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(noise), str(out), "4"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    grown_kib, frames = (int(v) for v in done.stdout.split())
    assert frames == 960
    assert out.stat().st_size > 4 * noise.stat().st_size * 0.99 > 100 * 1024 * 1024
    assert grown_kib < 24 * 1024, f"grew by {grown_kib} KiB joining {out.stat().st_size:,} bytes"


def test_bad_inputs(clips: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        concat_mp4([], tmp_path / "none.mp4")
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"not a video at all")
    with pytest.raises(VideoReadError):
        concat_mp4([clips[0], text], tmp_path / "joined.mp4")
    assert not (tmp_path / "joined.mp4").exists()


def test_clip_uris_forms() -> None:
    archive_result = {"videos": [{"s3_uri": "s3://bkt/x/video-0.mp4"}, {"s3_uri": "s3://bkt/x/video-1.mp4"}]}
    assert clip_uris(["s3://bkt/a.mp4", {"s3_uri": "s3://bkt/c.mp4"}, archive_result]) == [
        "s3://bkt/a.mp4",
        "s3://bkt/c.mp4",
        "s3://bkt/x/video-0.mp4",
        "s3://bkt/x/video-1.mp4",
    ]
    assert clip_uris(archive_result) == ["s3://bkt/x/video-0.mp4", "s3://bkt/x/video-1.mp4"]
    refused: list[tuple[Any, str]] = [
        ("s3://bkt/a.mp4", "must be a list"),
        ([], "no clip"),
        ([42], "expected an s3:// URI"),
        (["https://example.com/a.mp4"], "expected an s3://bucket/key URI"),
        ([{"videos": []}], "no clip"),
    ]
    for value, message in refused:
        with pytest.raises(ValueError, match=message):
            clip_uris(value)


@pytest.fixture(scope="module")
def join_s3() -> Iterator[LocalS3]:
    with LocalS3() as server:
        yield server


def test_join_operator_stores_the_joined_clip(
    join_s3: LocalS3, clips: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_JOIN", join_s3.connection_json())
    join_s3.create_bucket("join-tests")
    client = join_s3.client()
    uris = []
    for path in clips:
        client.put_object(Bucket="join-tests", Key=f"clips/{path.name}", Body=path.read_bytes())
        uris.append(f"s3://join-tests/clips/{path.name}")

    operator = JoinVideosOperator(
        task_id="join", videos=uris, dest_s3_uri="s3://join-tests/films/", aws_conn_id="aws_join"
    )
    result = operator.execute({})
    data = read_s3(client, result["s3_uri"])
    sha256 = hashlib.sha256(data).hexdigest()
    assert result == {
        "s3_uri": f"s3://join-tests/films/joined-{sha256}.mp4",
        "size": len(data),
        "sha256": sha256,
        "duration_s": pytest.approx(2.5, abs=1 / FPS),
    }
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].frames == 60
    key = result["s3_uri"].split("/", 3)[3]
    head = client.head_object(Bucket="join-tests", Key=key)
    assert recorded_sha256(client, "join-tests", key) == sha256
    assert head["ContentType"] == "video/mp4"

    # Again, into a named object: the same bytes there are left alone; other bytes fail the task.
    named = JoinVideosOperator(
        task_id="join", videos=uris, dest_s3_uri="s3://join-tests/films/day.mp4", aws_conn_id="aws_join"
    )
    assert named.execute({})["sha256"] == sha256
    assert named.execute({})["sha256"] == sha256
    shorter = JoinVideosOperator(
        task_id="join", videos=uris[:2], dest_s3_uri="s3://join-tests/films/day.mp4", aws_conn_id="aws_join"
    )
    with pytest.raises(AirflowFailException, match="already exists with different bytes"):
        shorter.execute({})

    odd = clip(tmp_path, "odd.mp4", "cat.png", seconds=0.5, size=(384, 216))
    client.put_object(Bucket="join-tests", Key="clips/odd.mp4", Body=odd.read_bytes())
    mismatched = JoinVideosOperator(
        task_id="join",
        videos=[uris[0], "s3://join-tests/clips/odd.mp4"],
        dest_s3_uri="s3://join-tests/films/",
        aws_conn_id="aws_join",
    )
    with pytest.raises(AirflowFailException, match="cannot join 2 clips: input 1, video stream 0: size"):
        mismatched.execute({})
    missing = JoinVideosOperator(
        task_id="join",
        videos=[uris[0], "s3://join-tests/clips/nothing.mp4"],
        dest_s3_uri="s3://join-tests/films/",
        aws_conn_id="aws_join",
    )
    with pytest.raises(AirflowFailException, match="does not exist"):
        missing.execute({})
