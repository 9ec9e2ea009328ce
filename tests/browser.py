"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe):
no driver package, no browser download, only the system's `chromium`.

    with Browser() as browser:
        page = browser.open("http://127.0.0.1:8000/")
        page.evaluate("window.vitgan.ready")  # awaits promises, returns JSON values
        png = page.screenshot()
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium():
    """The path of a Chromium-family browser on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _high(fd):
    """`fd` moved to a number above 9."""
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class BrowserError(RuntimeError):
    """The browser answered a command with an error, or a script threw."""


class Browser:
    """One headless Chromium process; `open` gives pages. Messages are JSON terminated by NUL
    on fds 3 (to the browser) and 4 (from it)."""

    def __init__(self, executable=None, timeout=120, flags=("--disable-gpu",)):
        self.executable = executable or find_chromium()
        self.flags = list(flags)
        if self.executable is None:
            raise FileNotFoundError("no Chromium found (apt-get install -y chromium)")
        self.timeout, self._id, self._buffer = timeout, 0, b""

    def __enter__(self):
        # Above fd 4, so that placing the browser's ends at 3 and 4 overwrites neither.
        to_browser_r, self._to_browser, self._from_browser, from_browser_w = (
            _high(fd) for fd in (*os.pipe(), *os.pipe()))
        self._profile = tempfile.mkdtemp(prefix="vitgan-chromium-")

        def pipes():  # in the child: its fds 3 and 4 are the pipes' browser ends
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self._process = subprocess.Popen(
            [self.executable, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
             *self.flags, "--no-first-run", "--no-default-browser-check",
             "--disable-dev-shm-usage", f"--user-data-dir={self._profile}", "about:blank"],
            preexec_fn=pipes, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        return self

    def __exit__(self, *exc):
        try:
            self.send("Browser.close")
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def send(self, method, session=None, **params):
        """Send one command and return its result (events in between are dropped)."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self, deadline):
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the browser did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError("the browser closed its pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url, width=1000, height=900):
        """A new page (tab) at `url`, once its document has loaded."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session)
        page.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        page.send("Page.navigate", url=url)
        deadline = time.monotonic() + self.timeout
        while not page.loaded():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load in time")
            time.sleep(0.05)
        return page


# What Runtime.evaluate answers while a navigation swaps the document: not a failure, the
# new document's context is not there yet.
NAVIGATING = ("Cannot find default execution context", "Execution context was destroyed",
              "Cannot find context with specified id")


class Page:
    def __init__(self, browser, session):
        self.browser, self.session = browser, session

    def send(self, method, **params):
        return self.browser.send(method, self.session, **params)

    def evaluate(self, expression):
        """The JSON value of `expression` (a promise is awaited); BrowserError if it throws."""
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression}: {text}")
        return result["result"].get("value")

    def loaded(self):
        """Whether the navigated-to document has finished loading (False mid-navigation)."""
        try:
            return self.evaluate("location.href !== 'about:blank' && "
                                 "document.readyState === 'complete'") is True
        except BrowserError as error:
            if any(text in str(error) for text in NAVIGATING):
                return False
            raise

    def screenshot(self):
        """The page as PNG bytes."""
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
