"""A real headless Chromium driven over the DevTools protocol, for tests of HTML pages as people
see them: load a page with the network blocked, record every request and failure, take a
full-page screenshot, evaluate JavaScript in the page, print to PDF.

Chromium comes from Debian's ``chromium`` package (.ci/run installs it); without it the tests that
need it fail with a message saying so (they are not skipped).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "Chromium is needed to render the report as people see it, and is not installed: "
        "install Debian's package (apt-get install chromium), as .ci/run does",
        pytrace=False,
    )


@dataclass
class PageLoad:
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    failed: list[str] = field(default_factory=list)  # "URL: reason" for each failed load
    console_errors: list[str] = field(default_factory=list)


class Browser:
    """One headless Chromium process with one tab. Network: every host resolves to nothing and
    every proxied request goes to a closed port, so any external request fails (and is recorded)."""

    def __init__(self) -> None:
        import websocket  # websocket-client (installed with the kubernetes client)

        self.profile = Path(tempfile.mkdtemp(prefix="tfcompare-chromium-"))
        self.proc = subprocess.Popen(
            [
                chromium_path(),
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--hide-scrollbars",
                "--mute-audio",
                "--proxy-server=http://127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Chromium did not start (no DevTools port)")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        req = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(req, timeout=30) as resp:
            target = json.loads(resp.read())
        self.ws = websocket.create_connection(
            target["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self._id = 0
        self.events: list[dict] = []
        for method in ("Page.enable", "Network.enable", "Runtime.enable", "Log.enable"):
            self.call(method)
        self.call("Page.setLifecycleEventsEnabled", enabled=True)  # for "networkIdle"

    def call(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def _wait_event(self, name: str, timeout: float = 60, lifecycle: str | None = None) -> None:
        """Read events until one named ``name`` (a ``Page.lifecycleEvent`` called ``lifecycle``)
        has come."""

        def came(e: dict) -> bool:
            return e.get("method") == name and (
                lifecycle is None or e.get("params", {}).get("name") == lifecycle
            )

        deadline = time.monotonic() + timeout
        while not any(came(e) for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {name} within {timeout} s")
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.ws.recv()))

    def load(self, path: Path, width: int = 1200, height: int = 900) -> PageLoad:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.events.clear()
        self.call("Page.navigate", url=Path(path).resolve().as_uri())
        self._wait_event("Page.loadEventFired")
        # late requests (fonts, lazy images) come before the network is idle (quiet for 0.5 s)
        self._wait_event("Page.lifecycleEvent", lifecycle="networkIdle")
        self.call("Runtime.evaluate", expression="1")  # drains pending events
        out = PageLoad()
        urls = {}
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Network.requestWillBeSent":
                urls[p["requestId"]] = p["request"]["url"]
                out.requests.append(p["request"]["url"])
            elif e.get("method") == "Network.loadingFailed":
                out.failed.append(f"{urls.get(p['requestId'], '?')}: {p.get('errorText')}")
            elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.console_errors.append(p["entry"]["text"])
            elif e.get("method") == "Runtime.exceptionThrown":
                out.console_errors.append(str(p["exceptionDetails"].get("text")))
        return out

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(str(result["exceptionDetails"]))
        return result["result"].get("value")

    def screenshot(self, out: Path) -> Path:
        """The whole page (not only the viewport) as PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        )
        out.write_bytes(base64.b64decode(shot["data"]))
        return out

    def pdf(self) -> bytes:
        return base64.b64decode(
            self.call("Page.printToPDF", paperWidth=8.27, paperHeight=11.69, printBackground=True)[
                "data"
            ]
        )

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            shutil.rmtree(self.profile, ignore_errors=True)
