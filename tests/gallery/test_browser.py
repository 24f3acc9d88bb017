"""The gallery as a person sees it: Debian's chromium, headless, driven through its chromedriver
against the real api-server: log in, open the run's Videos tab, watch a video, follow the archive
task's extra link.

The screenshots of docs/gallery.md come from this test: ``AVG_GALLERY_SCREENSHOTS=1`` writes them to
docs/images/ (otherwise they go to the test's temporary folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.gallery.conftest import DAG_ID, PROMPT, VIDEOS, Gallery

# The timeout covers the shared stack's start (about a minute and a half on two idle cores), which
# counts against whichever test of the group runs first.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gallery"), pytest.mark.timeout(900)]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
WAIT_S = 60


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    """Debian's chromium through its chromedriver, a fresh profile; Selenium Manager never runs."""
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    return DOCS_IMAGES if os.environ.get("AVG_GALLERY_SCREENSHOTS") == "1" else tmp_path


def shoot(driver: WebDriver, folder: Path, name: str) -> None:
    path = folder / name
    assert driver.save_screenshot(str(path)), path
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= 1000, image.size


def wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    """A wait that polls through the UI's own navigations (a redirect to the login form aborts a
    lookup in flight with a bare ``WebDriverException``); it still fails after ``WAIT_S``."""
    return WebDriverWait(driver, WAIT_S, ignored_exceptions=(WebDriverException,))


def log_in(driver: WebDriver, gallery: Gallery, next_path: str) -> None:
    """Airflow's own login form (the simple auth manager's), with the user's real password."""
    driver.get(gallery.base + next_path)
    wait(driver).until(ec.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(gallery.password("admin"))
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(ec.url_contains(next_path))


def test_watch_the_videos_of_a_run_in_airflows_ui(
    gallery: Gallery, browser: WebDriver, screenshots: Path
) -> None:
    run_page = f"/dags/{DAG_ID}/runs/{quote(gallery.run_id, safe='')}"
    log_in(browser, gallery, run_page)

    # The run's Videos tab: the gallery, inside Airflow's page.
    wait(browser).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, "a[href$='/plugin/video-gallery-run']"))
    ).click()
    wait(browser).until(
        ec.frame_to_be_available_and_switch_to_it((By.CSS_SELECTOR, "iframe[title='Videos']"))
    )
    wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "section.card")) == VIDEOS)
    assert browser.find_element(By.ID, "count").text.startswith(f"{VIDEOS} videos")
    cards = browser.find_elements(By.CSS_SELECTOR, "section.card")
    assert [c.find_element(By.CSS_SELECTOR, ".prompt").text for c in cards] == [f"“{PROMPT}”"] * VIDEOS
    assert all(c.find_element(By.CSS_SELECTOR, "img.sheet").get_property("naturalWidth") > 0 for c in cards)

    # Play the first one: the browser fetches it (in byte ranges) from the gallery and plays it.
    error = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const video = document.querySelector("section.card video");
        video.muted = true;
        video.play().then(() => done(null), (e) => done(String(e)));
        """
    )
    assert error is None
    video = "document.querySelector('section.card video')"
    wait(browser).until(lambda d: d.execute_script(f"return {video}.readyState") == 4)
    started = browser.execute_script(f"return {video}.currentTime")
    wait(browser).until(lambda d: d.execute_script(f"return {video}.currentTime") > started + 0.3)
    assert browser.execute_script(f"return {video}.error") is None
    assert round(browser.execute_script(f"return {video}.duration")) == 4
    browser.switch_to.default_content()
    shoot(browser, screenshots, "gallery-run.png")

    # Browse > Videos: the latest runs, with their contact sheets.
    browser.get(gallery.base + "/plugin/video-gallery")
    wait(browser).until(
        ec.frame_to_be_available_and_switch_to_it((By.CSS_SELECTOR, "iframe[title='Videos']"))
    )
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "li.run"))
    thumbnails = browser.find_elements(By.CSS_SELECTOR, "li.run .thumbs img")
    assert len(thumbnails) == VIDEOS
    wait(browser).until(lambda d: all(t.get_property("naturalWidth") > 0 for t in thumbnails))
    browser.switch_to.default_content()
    shoot(browser, screenshots, "gallery-recent.png")

    # The archive task's extra link, on its Details tab, opens its videos in the gallery.
    browser.get(f"{gallery.base}{run_page}/tasks/archive")
    wait(browser).until(
        ec.element_to_be_clickable(
            (By.XPATH, "//a[normalize-space()='Details'] | //button[normalize-space()='Details']")
        )
    ).click()
    link = wait(browser).until(ec.element_to_be_clickable((By.XPATH, "//a[normalize-space()='Video']")))
    assert (
        browser.find_element(By.XPATH, "//a[normalize-space()='S3']")
        .get_attribute("href")
        .startswith(gallery.s3.endpoint_url)
    )
    shoot(browser, screenshots, "gallery-extra-links.png")
    link.click()
    wait(browser).until(ec.url_contains(f"/video-gallery{run_page}/tasks/archive"))
    wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "section.card")) == VIDEOS)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Videos of task archive"
