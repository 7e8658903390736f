"""The report's printer (dagster_project/publish/pdf_printer.py): one headless Chromium per
process serves every print, each print equals what `chromium --print-to-pdf` makes of the
same page, a browser that died is replaced, and the browser never outlives its process —
not even one killed with SIGKILL."""

import os
import signal
import subprocess
import sys
import time

import pytest

from dagster_project.publish import pdf_printer

pytestmark = pytest.mark.tools

PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
@page { size: A4; margin: 12mm; } .page { page-break-after: always; }
td.no { background: #f8d7da; }</style></head><body>
<div class="page"><h1>檢視表 Review table</h1><table><tr><td class="no">未達成</td></tr></table></div>
<div class="page"><svg width="200" height="80"><polyline points="0,80 100,20 200,40"
 stroke="black" fill="none"/></svg><p>第二頁 page two</p></div></body></html>"""


def _pdf_text(pdf) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def _pages_and_size(pdf) -> tuple[str, str]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return fields["Pages"].strip(), fields["Page size"].strip()


def _png(pdf, out):
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(out)], check=True)
    return sorted(out.parent.glob(f"{out.name}*.png"))


def _browsers_of(pid: int) -> list[int]:
    """Chromium processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read()
        except OSError:
            continue
        if int(fields[1]) == pid and b"chromium" in command and fields[0] != "Z":
            found.append(int(entry))
    return found


def test_one_browser_prints_what_chromium_print_to_pdf_prints(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(PAGE, encoding="utf-8")
    pdf_printer.print_pdf(page, tmp_path / "first.pdf")
    browser = pdf_printer._BROWSER.process.pid
    pdf_printer.print_pdf(page, tmp_path / "second.pdf")
    assert pdf_printer._BROWSER.process.pid == browser  # the same browser, kept
    assert _browsers_of(os.getpid()) == [browser]
    subprocess.run([pdf_printer.chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--no-pdf-header-footer", f"--print-to-pdf={tmp_path / 'cli.pdf'}",
                    page.as_uri()], capture_output=True, check=True, timeout=120)
    for name in ("first", "second"):
        assert _pages_and_size(tmp_path / f"{name}.pdf") == ("2", "594.96 x 841.92 pts (A4)")
        assert _pdf_text(tmp_path / f"{name}.pdf") == _pdf_text(tmp_path / "cli.pdf")
        assert "第二頁 page two" in _pdf_text(tmp_path / f"{name}.pdf")
        # pixel for pixel: the background colour and the chart included
        ours, theirs = _png(tmp_path / f"{name}.pdf", tmp_path / name), \
            _png(tmp_path / "cli.pdf", tmp_path / f"cli-{name}")
        assert len(ours) == len(theirs) == 2
        assert [p.read_bytes() for p in ours] == [p.read_bytes() for p in theirs]


def test_a_dead_browser_is_replaced_and_stop_leaves_none(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(PAGE, encoding="utf-8")
    pdf_printer.print_pdf(page, tmp_path / "a.pdf")
    dead = pdf_printer._BROWSER.process
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait()
    pdf_printer.print_pdf(page, tmp_path / "b.pdf")
    assert pdf_printer._BROWSER.process.pid != dead.pid
    assert _pages_and_size(tmp_path / "b.pdf")[0] == "2"
    pdf_printer.stop()
    assert _browsers_of(os.getpid()) == []


OWNER = """
import os, sys, time
from pathlib import Path
from dagster_project.publish import pdf_printer
pdf_printer.print_pdf(Path(sys.argv[1]), Path(sys.argv[2]))
if sys.argv[3] == "SIGKILL":
    # a forked child outlives its parent: its copy of the pipe must not keep the browser
    child = os.fork()
    if child == 0:
        time.sleep(120)
        os._exit(0)
    print(pdf_printer._BROWSER.process.pid, child, flush=True)
    time.sleep(120)
print(pdf_printer._BROWSER.process.pid, 0, flush=True)
"""


def _ended(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("how", ["exit", "SIGKILL"])
def test_the_browser_ends_with_its_process(tmp_path, how):
    page = tmp_path / "page.html"
    page.write_text(PAGE, encoding="utf-8")
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(page), str(tmp_path / "o.pdf"),
                              how], stdout=subprocess.PIPE, text=True)
    browser, child = map(int, owner.stdout.readline().split())
    if how == "SIGKILL":
        assert not _ended(browser)
        owner.kill()
    owner.wait(timeout=60)
    owner.stdout.close()
    deadline = time.monotonic() + 30
    while not _ended(browser) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _ended(browser)
    if child:
        assert not _ended(child)
        os.kill(child, signal.SIGKILL)
    assert _pages_and_size(tmp_path / "o.pdf")[0] == "2"


def test_a_child_forked_during_a_print_prints_with_a_browser_of_its_own(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(PAGE, encoding="utf-8")
    pdf_printer.print_pdf(page, tmp_path / "parent.pdf")
    parents = pdf_printer._BROWSER.process.pid
    with pdf_printer._LOCK:  # as when the fork comes while another thread prints
        child = os.fork()
        if child == 0:
            code = 1
            try:
                pdf_printer.print_pdf(page, tmp_path / "child.pdf")
                code = 0 if pdf_printer._BROWSER.process.pid != parents else 3
            finally:
                pdf_printer.stop()
                os._exit(code)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(child, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    if done == (0, 0):
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    assert done[0] == child and os.waitstatus_to_exitcode(done[1]) == 0
    assert _pages_and_size(tmp_path / "child.pdf")[0] == "2"
    assert not _ended(parents)  # the parent's browser, untouched, prints on
    pdf_printer.print_pdf(page, tmp_path / "again.pdf")
    assert pdf_printer._BROWSER.process.pid == parents
