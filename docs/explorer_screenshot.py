"""Redraw ``docs/explorer.png``, the README's picture of the explorer.

Usage (after ``make demo``, which writes ``runs/demo``): ``.venv/bin/python docs/explorer_screenshot.py
[--run runs/demo] [--chromium /usr/bin/chromium]``. Starts ``latentlens explore`` on the run, selects the
SeFa directions beside Voynov's, moves the first slider to 2 and clicks the fourth sample, then saves the page.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="runs/demo")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", default=str(Path(__file__).with_name("explorer.png")))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server = subprocess.Popen([sys.executable, "-m", "latentlens.cli", "explore", "--run", args.run],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        url = server.stdout.readline().split()[2]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_selector("#grid img")
            page.select_option("#set", "sefa")
            page.check("#compare-on")
            page.select_option("#compare-set", "voynov")
            page.locator("#sliders .slider input[type=range]").first.fill("2")
            page.locator("#grid img").nth(3).click()
            page.wait_for_timeout(2000)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        server.terminate()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
