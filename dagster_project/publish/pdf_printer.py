"""Headless Chromium, started once per process, printing HTML pages to PDF.

`chromium --print-to-pdf` costs about 1.6 s of CPU a print, most of it starting the browser
(a launcher script, a zygote, a crash handler, a network process), and every release prints
its report. So, as with the dbt and GX servers, the browser is started once per process and
kept: each print opens a tab, loads the page, asks for the PDF over the DevTools protocol
(`--remote-debugging-pipe`: requests on the browser's fd 3, answers on its fd 4, each a JSON
message ended by a NUL byte) and closes the tab. The browser ends with the process that
started it: when that process exits, or is killed, the browser reads the end of its pipe
and quits. A child forked from this process closes its copy of the pipe at
once and starts a browser of its own if it prints.

`print_pdf` prints as `--print-to-pdf --no-pdf-header-footer` does: the page's CSS decides
the paper (`@page`), no header or footer.
"""

import atexit
import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import threading
from pathlib import Path

from dagster_project.lib.owned_process import reap

# The longest wait for any one message from the browser (a 30-page report prints in under
# a second); a browser that hangs is stopped, and the next print starts another.
ANSWER_SECONDS = 120


class PrintFailed(RuntimeError):
    pass


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _Browser:
    def __init__(self, executable: str):
        # Requests go in on the child's fd 3, answers come out on its fd 4.
        to_child, self._out = os.pipe()
        self._in, from_child = os.pipe()

        def fds():  # in the child, before exec: the pipe ends at the numbers Chromium reads
            # (first above 10, so that neither is overwritten by the other's move)
            high_in = fcntl.fcntl(to_child, fcntl.F_DUPFD, 10)
            high_out = fcntl.fcntl(from_child, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        try:
            self.process = subprocess.Popen(
                [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--no-default-browser-check", "--disable-extensions",
                 "--remote-debugging-pipe", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=fds, pass_fds=(3, 4))  # every other descriptor closed
        except BaseException:
            for fd in (self._out, self._in):
                os.close(fd)
            raise
        finally:
            os.close(to_child)
            os.close(from_child)
        self._writer = os.fdopen(self._out, "wb", buffering=0)
        self._reader = os.fdopen(self._in, "rb", buffering=0)
        self._buffer = b""
        self._next_id = 0

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._writer.write(json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self) -> dict:
        while b"\0" not in self._buffer:
            if not select.select([self._reader], [], [], ANSWER_SECONDS)[0]:
                raise PrintFailed(f"Chromium did not answer within {ANSWER_SECONDS} s")
            chunk = self._reader.read(1 << 16)
            if not chunk:
                raise PrintFailed("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _call(self, method: str, params: dict | None = None, session: str | None = None,
              until_event: str | None = None) -> dict:
        """The answer to one request; with `until_event`, also waits for that event of the
        session (it may come before or after the answer)."""
        wanted = self._send(method, params, session)
        answer, seen = None, until_event is None
        while answer is None or not seen:
            message = self._receive()
            if message.get("id") == wanted:
                if "error" in message:
                    raise PrintFailed(f"Chromium refused {method}: {message['error']}")
                answer = message.get("result", {})
            elif message.get("method") == until_event and message.get("sessionId") == session:
                seen = True
        return answer

    def print_pdf(self, page: Path, out: Path) -> None:
        # A failure leaves the tab open: the caller stops the whole browser (closing the tab
        # first would wait on a browser that failed, and hide the first error).
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._call("Target.attachToTarget",
                             {"targetId": target, "flatten": True})["sessionId"]
        self._call("Page.enable", session=session)
        self._call("Page.navigate", {"url": page.resolve().as_uri()}, session,
                   until_event="Page.loadEventFired")
        pdf = self._call("Page.printToPDF", {"preferCSSPageSize": True,
                                             "displayHeaderFooter": False,
                                             "printBackground": True}, session)
        self._call("Target.closeTarget", {"targetId": target})
        out.write_bytes(base64.b64decode(pdf["data"]))

    def close_pipe(self) -> None:
        for stream in (self._writer, self._reader):
            with contextlib.suppress(OSError):
                stream.close()

    def stop(self) -> None:
        self.close_pipe()
        reap(self.process)


_BROWSER: _Browser | None = None
_LOCK = threading.Lock()


def _ready(executable: str) -> "_Browser":
    """This process's browser (under _LOCK): started now if there is none or it died."""
    global _BROWSER
    if _BROWSER is not None and _BROWSER.process.poll() is not None:
        _BROWSER.stop()
        _BROWSER = None
    if _BROWSER is None:
        _BROWSER = _Browser(executable)
    return _BROWSER


def print_pdf(page: Path, out: Path) -> None:
    """Print `page` (an HTML file) to `out` with this process's browser (started now if
    there is none, or if it died); PrintFailed if Chromium is missing or fails."""
    global _BROWSER
    executable = chromium()
    if executable is None:
        raise PrintFailed("Chromium is not installed (make system-deps)")
    with _LOCK:
        try:
            _ready(executable).print_pdf(page, out)
        except (PrintFailed, OSError, ValueError, KeyError):
            if _BROWSER is not None:  # a browser in an unknown state is not used again
                _BROWSER.stop()
            _BROWSER = None
            raise


def _start() -> None:
    with _LOCK, contextlib.suppress(PrintFailed, OSError, ValueError, KeyError):
        _ready(chromium())._call("Target.getTargets")  # answered once the browser is up


def warm() -> None:
    """Start this process's browser now, on a thread, for a print to come: a first print
    takes about 1 s, half of it the browser starting (0.4 s of CPU over its processes),
    which then happens while this process waits for something else. A browser that fails
    to start is started again by the print, which reports the failure."""
    if chromium() is not None and _BROWSER is None:
        threading.Thread(target=_start, name="chromium-start", daemon=True).start()


def stop() -> None:
    """Stop this process's browser and wait for it (about 0.2 s)."""
    global _BROWSER
    with _LOCK:
        if _BROWSER is not None:
            _BROWSER.stop()
        _BROWSER = None


def _forget_in_child() -> None:
    """In a forked child: close its copies of the parent's pipe (held open, they would keep
    the parent's browser alive after the parent died) and start afresh if it prints, with a
    lock of its own (a fork during a print copies the lock held)."""
    global _BROWSER, _LOCK
    _LOCK = threading.Lock()
    if _BROWSER is not None:
        _BROWSER.close_pipe()
        _BROWSER = None


os.register_at_fork(after_in_child=_forget_in_child)


@atexit.register
def _close_at_exit() -> None:
    """At exit only the pipe is closed: the browser quits on reading its end, and nobody
    is left to wait for (`tsdg` ends 0.2 s sooner)."""
    if _BROWSER is not None:
        _BROWSER.close_pipe()
