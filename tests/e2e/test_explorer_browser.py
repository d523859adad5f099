"""The explorer in a real browser: Playwright driving Debian's Chromium against a server on a free loopback
port. Fails on any request that leaves 127.0.0.1 and on any console error. Skipped, with the reason, only when
no Chromium can be found (``.ci/run`` installs it with apt-get)."""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/lib/chromium/chromium")
                 if p and Path(p).exists()), None)  # fmt: skip
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium)"),
    pytest.mark.e2e,
]


@pytest.fixture(scope="module")
def server(explorer_run):
    import uvicorn

    from latentlens.app.server import create_app
    from latentlens.app.session import ExplorerSession

    torch.set_num_threads(1)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(ExplorerSession(explorer_run)), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(timeout=10)


def test_explorer_in_chromium(server, explorer_run, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from latentlens.directions import Directions

    requests, errors = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(accept_downloads=True)
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server)
        main = page.locator("#main-image")
        page.wait_for_function("document.getElementById('main-image').src.startsWith('blob:')")
        assert page.locator("#grid img").count() == 16
        # moving a slider re-renders the image
        before = main.get_attribute("data-url")
        slider = page.locator("#sliders .slider input[type=range]").first
        slider.focus()
        for _ in range(15):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(f"document.getElementById('main-image').dataset.url !== {before!r}")
        assert "shifts=" in main.get_attribute("data-url")
        # another direction set: its sliders
        page.select_option("#set", "latent")
        assert page.locator("#sliders .slider").count() == 4
        page.select_option("#set", "sefa")
        assert page.locator("#sliders .slider").count() == 3
        # a name typed for a direction is saved into the artifact
        name = page.locator("#sliders input.name").nth(2)
        name.fill("position")
        name.press("Enter")
        page.wait_for_function("document.getElementById('status').textContent.includes('saved')")
        assert Directions.load(explorer_run / "directions" / "sefa").names[2] == "position"
        # side by side, and export of the traversal as a PNG strip
        page.check("#compare-on")
        page.wait_for_function("document.getElementById('compare-traversal').src.startsWith('blob:')")
        with page.expect_download() as download:
            page.click("#export-png")
        saved = tmp_path / "strip.png"
        download.value.save_as(saved)
        assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        page.wait_for_function("document.getElementById('attention-image').src.startsWith('blob:')")
        # the scrubber along the space-filling curve: a move draws another point of the curve
        page.wait_for_function("document.getElementById('curve-image').src.startsWith('blob:')")
        assert page.locator("#curve-panel").is_visible()
        first = page.locator("#curve-image").get_attribute("data-url")
        page.locator("#curve-position").fill("2.5")
        page.wait_for_function(f"document.getElementById('curve-image').dataset.url !== {first!r}")
        assert "position=2.5" in page.locator("#curve-image").get_attribute("data-url")
        shot_dir = Path(os.environ.get("LATENTLENS_SCREENSHOTS", tmp_path))  # look at it yourself
        shot_dir.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot_dir / "explorer.png"), full_page=True)
        browser.close()
    outside = [u for u in requests if not u.startswith(server) and not u.startswith("blob:") and not u.startswith("data:")]
    assert outside == [], outside
    assert errors == [], errors
    assert (shot_dir / "explorer.png").stat().st_size > 10_000
