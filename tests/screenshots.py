"""The README's screenshots of the page, from this version: `luxlogd demo` (its simulated
heat pump with two days of history) in headless Chromium, English and German, at 1,280 px and
on a 390 px phone.

    .venv/bin/python -m tests.screenshots [DIRECTORY]    (default docs/)

writes screenshot.png (English, 1,280 px), screenshot-de.png (German, 1,280 px), phone-en.png
and phone-de.png (390 px). Needs Debian's chromium and chromium-driver
(tests/install-debian-packages).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import webdriver
from tests.helpers import accepts, eventually
from tests.system import free_port

SHOTS = [  # (file, language, width, height)
    ("screenshot.png", "en", 1280, 1400),
    ("screenshot-de.png", "de", 1280, 1400),
    ("phone-en.png", "en", 390, 844),
    ("phone-de.png", "de", 390, 844),
]


def main(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        port = free_port()
        environment = {**os.environ, "LUXLOGD_WEB_LISTEN": f"127.0.0.1:{port}"}
        demo = subprocess.Popen(
            [sys.executable, "-m", "luxlogd", "demo", str(Path(scratch) / "demo")],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}/"
        browser = None
        try:
            eventually(lambda: accepts(port), 60, 0.5, what="the demo's web page")
            time.sleep(15)  # a few polls of this run, and the season's figures computed
            browser = webdriver.Browser(free_port(), Path(scratch) / "chromium")
            for name, language, width, height in SHOTS:
                browser.call("POST", "/window/rect", {"width": width, "height": height})
                browser.get(f"{url}?lang={language}")
                browser.wait_for(
                    "return document.body.dataset.loads >= '1' && luxlogd.performanceLoads >= 1",
                    60,
                )
                time.sleep(1.5)  # the charts resize to the window
                (directory / name).write_bytes(browser.screenshot())
                print(f"wrote {directory / name} ({language}, {width} px)")
        finally:
            if browser is not None:
                browser.close()
            demo.terminate()
            demo.wait(30)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
