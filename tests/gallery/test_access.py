"""The gallery on a real api-server, over HTTP: every route behind Airflow's authentication and the
auth manager's DAG read check, videos served in byte ranges, and the extra links of the tasks."""

from __future__ import annotations

import hashlib
import io
import re
from urllib.parse import quote, urlsplit

import av
import httpx
import pytest

from airflow_video_gen.plugins.gallery_app import create_app
from airflow_video_gen.utils.gallery_links import GALLERY_PREFIX
from tests.gallery.conftest import BUCKET, DAG_ID, PROMPT, RESTRICTED_DAG_ID, VIDEOS, Gallery

# The timeout covers the shared stack's start (about a minute and a half on two idle cores), which
# counts against whichever test of the group runs first.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gallery"), pytest.mark.timeout(900)]


def app_routes() -> list[str]:
    """Every GET route the gallery's app declares, as declared (with its ``{parameters}``)."""
    from fastapi.routing import APIRoute

    routes = [r.path for r in create_app().routes if isinstance(r, APIRoute)]
    assert all({"GET"} == r.methods for r in create_app().routes if isinstance(r, APIRoute))
    return routes


def fill(route: str, dag_id: str, run_id: str, sha256: str) -> str:
    values = {"dag_id": dag_id, "run_id": run_id, "task_id": "archive", "sha256": sha256}
    path = re.sub(r"\{(\w+)\}", lambda m: quote(values[m.group(1)], safe=""), route)
    return GALLERY_PREFIX + path


def test_every_route_refuses_requests_without_valid_airflow_credentials(gallery: Gallery) -> None:
    routes = app_routes()
    assert len(routes) == 5, routes  # the index, a run, a task instance, a video, its contact sheet
    sha256 = gallery.archive_record()["videos"][0]["sha256"]
    admin = {"Authorization": f"Bearer {gallery.token('admin')}"}
    with httpx.Client(base_url=gallery.base, timeout=30) as client:
        for route in routes:
            path = fill(route, DAG_ID, gallery.run_id, sha256)
            # The route is there and serves an authenticated reader, so the refusals below are
            # refusals, not a missing page.
            assert client.get(path, headers=admin).status_code == 200, path
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers={"Authorization": "Bearer not-a-token"}).status_code == 403, path
            client.cookies.set("_token", "not-a-token")
            assert client.get(path).status_code == 403, path
            client.cookies.clear()


def test_a_user_without_read_access_to_the_dag_is_refused(gallery: Gallery) -> None:
    """``outsider`` is a viewer of team ``other``: it reads the DAG of no team, not team ``video``'s."""
    sha256 = gallery.archive_record()["videos"][0]["sha256"]
    outsider = {"Authorization": f"Bearer {gallery.token('outsider')}"}
    with httpx.Client(base_url=gallery.base, timeout=30, headers=outsider) as client:
        for route in app_routes():
            if route == "/":
                continue
            readable = client.get(fill(route, DAG_ID, gallery.run_id, sha256))
            assert readable.status_code == 200, route
            refused = client.get(fill(route, RESTRICTED_DAG_ID, gallery.run_id, sha256))
            assert refused.status_code == 403, route
            assert refused.json() == {"detail": "Forbidden"}
        index = client.get(f"{GALLERY_PREFIX}/")
    assert index.status_code == 200
    assert f"{DAG_ID}</strong> · {gallery.run_id}" in index.text


def test_run_page_shows_every_video_with_its_provenance_and_no_s3_address(gallery: Gallery) -> None:
    record = gallery.archive_record()
    admin = {"Authorization": f"Bearer {gallery.token('admin')}"}
    page = httpx.get(
        f"{gallery.base}{GALLERY_PREFIX}/dags/{DAG_ID}/runs/{quote(gallery.run_id, safe='')}",
        headers=admin,
        timeout=30,
    )
    assert page.status_code == 200
    html = page.text
    assert f'<p class="count muted" id="count">{VIDEOS} videos · run success' in html
    assert html.count("<video ") == VIDEOS
    assert html.count(f"“{PROMPT}”") == VIDEOS
    for video in record["videos"]:
        assert f"<code>{video['sha256']}</code>" in html
        assert f"<code>{video['s3_uri']}</code>" in html
    assert html.count("<dt>Duration</dt><dd>4 s</dd>") == VIDEOS
    assert "google/veo-3.1-fast-generate-001" in html
    # The page names objects by their s3:// URI only: no presigned URL, no S3 endpoint.
    assert "X-Amz-" not in html
    assert gallery.s3.endpoint_url not in html


def test_videos_are_streamed_in_byte_ranges(gallery: Gallery) -> None:
    video = gallery.archive_record()["videos"][1]
    stored = (
        gallery.s3.client().get_object(Bucket=BUCKET, Key=video["s3_uri"].split("/", 3)[3])["Body"].read()
    )
    path = f"{GALLERY_PREFIX}/dags/{DAG_ID}/runs/{quote(gallery.run_id, safe='')}/videos/{video['sha256']}"
    admin = {"Authorization": f"Bearer {gallery.token('admin')}"}
    with httpx.Client(base_url=gallery.base, timeout=30, headers=admin) as client:
        whole = client.get(path)
        part = client.get(path, headers={"Range": "bytes=100-1099"})
        tail = client.get(path, headers={"Range": "bytes=-50"})
        beyond = client.get(path, headers={"Range": f"bytes={len(stored) + 10}-"})
        sheet = client.get(f"{path}/contact-sheet.png")
        unknown = client.get(path.replace(video["sha256"], "0" * 64))
    assert whole.status_code == 200
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4"
    assert hashlib.sha256(whole.content).hexdigest() == video["sha256"]
    with av.open(io.BytesIO(whole.content)) as container:
        assert round(container.duration / av.time_base) == 4
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{len(stored)}"
    assert part.content == stored[100:1100]
    assert tail.status_code == 206
    assert tail.content == stored[-50:]
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(stored)}"
    assert sheet.status_code == 200
    assert sheet.headers["content-type"] == "image/png"
    assert sheet.content.startswith(b"\x89PNG")
    assert unknown.status_code == 404
    assert "archived no video with sha256" in unknown.json()["detail"]


def test_tasks_link_to_their_videos_in_the_gallery_and_archive_to_s3(gallery: Gallery) -> None:
    admin = {"Authorization": f"Bearer {gallery.token('admin')}"}
    record = gallery.archive_record()
    run = quote(gallery.run_id, safe="")
    links = {}
    with httpx.Client(base_url=gallery.base, timeout=30, headers=admin) as client:
        for task_id in ("submit", "wait", "archive"):
            answer = client.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run}/taskInstances/{task_id}/links")
            assert answer.status_code == 200, answer.text
            links[task_id] = answer.json()["extra_links"]
        for task_id in ("submit", "wait", "archive"):
            video_link = links[task_id]["Video"]
            assert video_link == f"{GALLERY_PREFIX}/dags/{DAG_ID}/runs/{run}/tasks/{task_id}"
            page = client.get(urlsplit(video_link).path).text
            # Each task's page shows the two videos of its generation, archived by `archive`.
            assert f'id="count">{VIDEOS} videos' in page, task_id
            assert all(v["sha256"] in page for v in record["videos"])
    assert set(links["submit"]) == set(links["wait"]) == {"Video"}
    # Two videos: the S3 link opens the folder holding them, on the local S3's own endpoint.
    folder = record["videos"][0]["s3_uri"].split("/", 3)[3].rsplit("/", 1)[0] + "/"
    assert links["archive"]["S3"] == f"{gallery.s3.endpoint_url}/{BUCKET}?prefix={folder}"
    listing = httpx.get(links["archive"]["S3"], timeout=30).text
    assert all(v["s3_uri"].split("/", 3)[3] in listing for v in record["videos"])
