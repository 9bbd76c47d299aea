"""A real headless Chromium (Debian's `chromium`) driven over the DevTools protocol: open a page, evaluate
JavaScript in it, take a screenshot. Enough for the report page's test, without a browser-automation package."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from tests.tools import missing_tool

CHROMIUM = "chromium"
#: Flags for this closed machine: without the background-networking ones Chromium keeps trying (and failing) to
#: reach Google's hosts; as root it needs --no-sandbox.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--window-size=1200,900",
)
START_TIMEOUT = 30.0
CALL_TIMEOUT = 30.0


class Browser:
    """`with Browser() as b: b.open(url); b.evaluate("document.title"); b.screenshot(path)`."""

    def __init__(self) -> None:
        executable = shutil.which(CHROMIUM)
        if executable is None:
            missing_tool(CHROMIUM, "apt-get install chromium (scripts/bootstrap.sh test does)")
        self.executable = str(executable)
        self.ids = itertools.count(1)
        self._stack = ExitStack()

    def __enter__(self) -> Browser:
        with ExitStack() as stack:  # everything started so far is stopped if the start fails half-way
            self.profile = Path(tempfile.mkdtemp(prefix="loadlab-chromium-"))
            stack.callback(shutil.rmtree, self.profile, ignore_errors=True)
            self.process = subprocess.Popen(
                [self.executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            stack.callback(self._stop)
            port = self._port()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
                page = next(t for t in json.load(response) if t["type"] == "page")
            self.ws = stack.enter_context(
                connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=START_TIMEOUT)
            )
            self.call("Page.enable")
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _port(self) -> int:
        """Chromium writes the port it chose into the profile once DevTools listen."""
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            if marker.exists() and (lines := marker.read_text().splitlines()):
                return int(lines[0])
            time.sleep(0.1)
        raise RuntimeError(f"chromium opened no DevTools port in {START_TIMEOUT:g} s")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; events that arrive meanwhile are dropped."""
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=CALL_TIMEOUT))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def open(self, url: str) -> None:
        """Navigate and wait for the load event (every image of the page loaded or failed)."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + CALL_TIMEOUT
        while time.monotonic() < deadline:
            if json.loads(self.ws.recv(timeout=CALL_TIMEOUT)).get("method") == "Page.loadEventFired":
                return
        raise RuntimeError(f"{url} did not finish loading")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        """The whole page (beyond the window) as a PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))
