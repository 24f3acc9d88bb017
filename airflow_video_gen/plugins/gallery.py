"""The video gallery: archived videos watched in Airflow's UI, beside their prompt, model and cost.

:class:`VideoGalleryPlugin` serves a FastAPI app on Airflow's api-server under
:data:`~airflow_video_gen.utils.gallery_links.GALLERY_PREFIX` and adds it to Airflow's UI as a
``Videos`` tab of DAG runs and task instances and a ``Videos`` page under Browse. Every page and
every video goes through Airflow's authentication and the auth manager's DAG read check, as
Airflow's own routes do.

Airflow imports plugins in every process, tasks included; the app (FastAPI, templates, S3) is built
on its first request, so only the api-server ever pays for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.sdk.plugins_manager import AirflowPlugin

from airflow_video_gen.utils.gallery_links import GALLERY_PREFIX, base_path

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class GalleryApp:
    """The gallery's ASGI app, built from :func:`~airflow_video_gen.plugins.gallery_app.create_app`
    on its first request."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            from airflow_video_gen.plugins.gallery_app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


def _view(name: str, path: str, destination: str, **extra: Any) -> dict[str, Any]:
    # Each view has its own url_route: Airflow's UI finds a tab's view by it among all views.
    return {"name": name, "href": f"{base_path()}{GALLERY_PREFIX}{path}", "destination": destination, **extra}


class VideoGalleryPlugin(AirflowPlugin):
    """Adds the video gallery to Airflow's api-server and UI.

    - ``Videos`` tab of a DAG run: every video the run archived, each with a player, its contact
      sheet, model, prompt, duration, resolution, size, sha256, elapsed time, warnings and S3 URI.
    - ``Videos`` tab of a task instance: the videos it archived, or those archived from the
      generation it submitted or waited for.
    - ``Videos`` under Browse: the latest runs that archived videos, with their contact sheets.

    .. seealso::
        The gallery's page of the docs: ``docs/gallery.md``.
    """

    name = "video_gallery"
    fastapi_apps = [{"app": GalleryApp(), "url_prefix": GALLERY_PREFIX, "name": "Video gallery"}]
    external_views = [
        _view("Videos", "/", "nav", category="browse", url_route="video-gallery"),
        _view("Videos", "/dags/{DAG_ID}/runs/{RUN_ID}", "dag_run", url_route="video-gallery-run"),
        _view(
            "Videos",
            "/dags/{DAG_ID}/runs/{RUN_ID}/tasks/{TASK_ID}?map_index={MAP_INDEX}",
            "task_instance",
            url_route="video-gallery-task",
        ),
    ]
