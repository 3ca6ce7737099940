"""`make browser-test`: the notebooks as a learner meets them, in JupyterLab driven through headless Chromium.

Starts JupyterLab on a free loopback port with a token, opens a copy of notebook 01 (parameters of the smoke profile,
``interactive = True``) and then of notebook 03, runs all cells from JupyterLab's Run menu and checks that every code
cell ran without an error on the project's ``strokelib`` kernel, that the figures appear inline, and (01) that the
ipywidgets slice viewer renders a slider whose move changes the displayed image. Waiting is by state, never by a
fixed sleep: a run counts as finished when no cell is queued or running and the kernel reports idle, checked twice.

Debian's chromium (``make browser-setup``) is driven with Playwright's Python client, in a fresh temporary profile;
nothing is downloaded here.
Everything this writes goes to ``outputs/browser/`` (emptied first): the parameterised and executed notebooks,
``screenshots/``, the notebooks' figures and tables and the JupyterLab log. Exit status 0 only when every check
passed; a check that could not run is a failure, never a pass. ``--docs-screenshot docs/slice_viewer.png``
also rewrites the README's screenshot of the viewer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
from papermill.inspection import inspect_notebook
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from PIL import Image

from strokelib.notebooks import KERNEL_NAME
from strokelib.settings import load_profile, project_root

CHROMIUM = os.environ.get("STROKELIB_CHROMIUM", "/usr/bin/chromium")  # Debian's, from make browser-setup
# Chromium in a container without a display, GPU or outside network: without the background-networking flags its
# own update and sync requests are refused and can stall start-up.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
KERNEL_DISPLAY = "Python (strokelib)"
VIEWPORT = {"width": 1400, "height": 1000}
# (notebook, parameters beyond the smoke profile, inline figures it shows outside widgets, has the slice viewer)
NOTEBOOKS = [("01_data_inspection.ipynb", {"interactive": True}, 3, True),
             ("03_patch_sampling.ipynb", {}, 4, False)]


class CheckFailed(Exception):
    """A check did not pass; the message says what was seen."""


class Report:
    """Prints every check as it happens and remembers the failures."""

    def __init__(self):
        self.failures: list[str] = []

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}{f': {detail}' if detail else ''}", flush=True)
        if not ok:
            self.failures.append(f"{what}{f': {detail}' if detail else ''}")
        return ok


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_notebook(root: Path, name: str, extra: dict, folder: Path, out_rel: str) -> Path:
    """Copy ``notebooks/<name>`` into ``folder`` with papermill's injected-parameters cell: the smoke profile's
    settings the notebook declares, outputs and figures under ``out_rel``, and ``extra``."""
    source = root / "notebooks" / name
    declared = set(inspect_notebook(str(source)))
    params = {k: v for k, v in load_profile("smoke", root).items() if k in declared}
    params.update(figures_dir=f"{out_rel}/figures", outputs_dir=out_rel, **extra)
    unknown = set(params) - declared
    if unknown:
        raise CheckFailed(f"{name} declares no parameter {', '.join(sorted(unknown))}")
    nb = parameterize_notebook(load_notebook_node(str(source)), params)
    target = folder / name
    nbformat.write(nb, target)
    return target


class Lab:
    """A JupyterLab server on a free loopback port with a random token, with private Jupyter config, data,
    runtime and lab-settings folders: only the kernels of this environment (so ``strokelib`` is the one ``make
    setup`` registered in .venv) and no news or update notifications over the screenshots."""

    def __init__(self, root: Path, log_path: Path, scratch: Path):
        self.root, self.port, self.token = root, free_port(), secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"
        settings = scratch / "lab-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                                "checkForUpdates": False}))
        self.env = {**os.environ, "JUPYTER_TOKEN": self.token, "JUPYTER_CONFIG_DIR": str(scratch / "config"),
                    "JUPYTER_DATA_DIR": str(scratch / "data"), "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
                    "JUPYTERLAB_SETTINGS_DIR": str(scratch / "lab-settings"),
                    "JUPYTERLAB_WORKSPACES_DIR": str(scratch / "workspaces"), "PYTHONUNBUFFERED": "1"}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> None:
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                   f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={self.root}",
                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if os.geteuid() == 0:  # a container's root: JupyterLab refuses to start without it
            command.append("--allow-root")
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, cwd=self.root, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CheckFailed(f"JupyterLab exited with status {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        raise CheckFailed(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def session(self, rel_path: str) -> dict | None:
        return next((s for s in self.api("sessions") if s.get("path") == rel_path), None)

    def shutdown_sessions(self) -> None:
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            self.shutdown_sessions()
        except Exception:  # noqa: BLE001 - the server may already be gone; it is stopped below either way
            pass
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the server and its kernels only
                self.process.wait()
        self.log.close()


# JavaScript run in the page, on the open notebook. The input prompt of every code cell: "[ ]:", "[*]:", "[7]:".
PROMPTS_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  return [...panel.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')].map(cell => {
    const prompt = cell.querySelector('.jp-InputArea-prompt');
    return prompt ? prompt.textContent.trim() : '';
  });
}"""

# Every output, widget outputs included, that shows a Python error. JupyterLab 4 renders an error output with the
# stderr MIME type and no class of its own, so errors are told by IPython's traceback text: a header line of
# dashes, "Traceback (most recent call last)", or "Cell In[n], line m" opening a SyntaxError.
ERRORS_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const traceback = /^-{20,}$|Traceback \\(most recent call last\\)|^\\s*Cell In\\[\\d+\\], line \\d+/m;
  return [...panel.querySelectorAll('.jp-OutputArea-output')]
    .filter(e => !e.querySelector('.jp-OutputArea-output'))  // the innermost: a widget's outputs nest
    .filter(e => e.dataset.mimeType === 'application/vnd.jupyter.error' || traceback.test(e.textContent))
    .map(e => e.textContent.trim().split('\\n').slice(-1)[0].slice(0, 300));
}"""

IMAGES_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  return [...panel.querySelectorAll('.jp-OutputArea-output img')].map(img => ({
    complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
    inWidget: !!img.closest('.jupyter-widgets'),
  }));
}"""


def executed_count(prompts: list[str]) -> int:
    return sum(1 for p in prompts if p.strip("[]: ").isdigit())


def menu(page, title: str, item: str) -> None:
    """Click ``title`` in JupyterLab's menu bar, then the entry labelled exactly ``item``."""
    exact = re.compile(f"^{re.escape(item)}$")
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(title)}$")).click()
    page.locator(".lm-Menu .lm-Menu-item", has=page.locator(".lm-Menu-itemLabel", has_text=exact)).click()


def run_all(page, lab: Lab, rel_path: str, n_code: int, timeout: float) -> list[str]:
    """Run all cells from the Run menu and wait until the run is over: it has started (a cell queued, running or
    numbered), no cell is queued or running (``[*]``) and the kernel is idle, twice in a row one second apart.
    Returns the code cells' final prompts."""
    menu(page, "Run", "Run All Cells")
    start, last_note, stable, started = time.monotonic(), 0.0, 0, False
    while True:
        prompts = page.evaluate(PROMPTS_JS) or []
        busy = any("*" in p for p in prompts)
        started = started or busy or executed_count(prompts) > 0
        session = lab.session(rel_path)
        state = session["kernel"]["execution_state"] if session else "not started"
        stable = stable + 1 if started and not busy and state == "idle" else 0
        elapsed = time.monotonic() - start
        if stable >= 2:
            print(f"  run finished after {elapsed:.0f} s", flush=True)
            return prompts
        if elapsed - last_note >= 15:
            last_note = elapsed
            print(f"  ... {elapsed:.0f} s: {executed_count(prompts)}/{n_code} code cells done, kernel {state}", flush=True)
        if not started and elapsed > 60:
            raise CheckFailed(f"Run All Cells did not start any cell within 60 s (kernel {state})")
        if elapsed > timeout:
            raise CheckFailed(f"the run did not finish within {timeout:.0f} s (prompts: {' '.join(prompts)})")
        time.sleep(1)


def save(page, path: Path, timeout: float = 60) -> nbformat.NotebookNode:
    """Save from JupyterLab's File menu; return the notebook once the file on disk has been rewritten."""
    before = path.stat().st_mtime_ns
    menu(page, "File", "Save Notebook")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.stat().st_mtime_ns != before:
            try:
                return nbformat.read(path, as_version=4)
            except (json.JSONDecodeError, nbformat.reader.NotJSONError):
                pass  # caught mid-write
        time.sleep(0.5)
    raise CheckFailed(f"saving {path.name} from the File menu did not rewrite the file within {timeout:.0f} s")


def image_difference(before: Path, after: Path) -> float:
    """Share of pixels whose RGB values differ by more than 8 (of 255) in some channel, on the common area."""
    a = np.asarray(Image.open(before).convert("RGB"), dtype=np.int16)
    b = np.asarray(Image.open(after).convert("RGB"), dtype=np.int16)
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return float((np.abs(a[:h, :w] - b[:h, :w]).max(axis=2) > 8).mean())


def check_viewer(page, shots: Path, report: Report) -> Path | None:
    """The slice viewer of notebook 01: its slider renders; dragging it re-draws the image. Returns the path of a
    screenshot of the whole viewer (for docs/)."""
    viewer = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-interact").first
    viewer.wait_for(state="visible", timeout=30_000)
    viewer.scroll_into_view_if_needed()
    slider = viewer.locator(".widget-slider").first
    handle = slider.locator(".noUi-handle").first
    track = slider.locator(".noUi-target").first
    readout = slider.locator(".widget-readout").first
    image = viewer.locator(".jp-OutputArea-output img").first
    if not report.check(handle.count() == 1 and handle.is_visible(), "slice viewer: the ipywidgets slider renders"):
        return None
    image.wait_for(state="visible", timeout=30_000)
    value_before, source_before = readout.inner_text().strip(), image.get_attribute("src")
    image.scroll_into_view_if_needed()
    viewer.screenshot(path=shots / "01_slice_viewer.png")
    image.screenshot(path=shots / "01_viewer_image_before.png")

    # Drag the handle to 80 % of the track, as a learner would; continuous_update=False re-draws on release.
    hbox, tbox = handle.bounding_box(), track.bounding_box()
    page.mouse.move(hbox["x"] + hbox["width"] / 2, hbox["y"] + hbox["height"] / 2)
    page.mouse.down()
    page.mouse.move(tbox["x"] + 0.8 * tbox["width"], hbox["y"] + hbox["height"] / 2, steps=10)
    page.mouse.up()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fresh = viewer.locator(".jp-OutputArea-output img")
        if fresh.count() and fresh.first.get_attribute("src") not in (None, source_before) and \
                fresh.first.evaluate("img => img.complete && img.naturalWidth > 0"):
            break
        time.sleep(0.5)
    value_after = readout.inner_text().strip()
    report.check(value_after != value_before, "slice viewer: dragging the slider changes its value",
                 f"{value_before} -> {value_after}")
    image = viewer.locator(".jp-OutputArea-output img").first
    if not report.check(image.get_attribute("src") != source_before, "slice viewer: the kernel re-drew the image"):
        return shots / "01_slice_viewer.png"
    image.screenshot(path=shots / "01_viewer_image_after.png")
    share = image_difference(shots / "01_viewer_image_before.png", shots / "01_viewer_image_after.png")
    report.check(share > 0.01, "slice viewer: the two screenshots of the image differ",
                 f"{100 * share:.1f} % of the pixels")
    viewer.screenshot(path=shots / "01_slice_viewer_moved.png")
    return shots / "01_slice_viewer.png"


def check_notebook(page, lab: Lab, root: Path, path: Path, n_figures: int, viewer: bool, shots: Path,
                   timeout: float, report: Report) -> Path | None:
    """Open one notebook in JupyterLab, run all its cells and check what a learner would see."""
    rel = path.relative_to(root).as_posix()
    stem = path.name[:2]
    n_code = sum(1 for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    print(f"{path.name}: opening {rel} in JupyterLab", flush=True)
    page.goto(f"{lab.url}/lab/tree/{rel}?reset")  # reset: a fresh workspace, only this notebook open
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)

    deadline = time.monotonic() + 180  # the kernel starts: a session appears and goes idle
    while True:
        session = lab.session(rel)
        if session and session["kernel"]["execution_state"] == "idle":
            break
        if page.locator(".jp-Dialog").count():
            page.screenshot(path=shots / f"{stem}_dialog.png")
            raise CheckFailed(f"JupyterLab shows a dialog instead of starting the kernel: "
                              f"{page.locator('.jp-Dialog').first.inner_text()[:300]!r}")
        if time.monotonic() > deadline:
            raise CheckFailed(f"the kernel of {rel} was not idle within 180 s (session: {session})")
        time.sleep(1)
    report.check(session["kernel"]["name"] == KERNEL_NAME, "the notebook runs on the project's kernel",
                 f"kernel {session['kernel']['name']!r}")
    toolbar = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar-kernelName").first.inner_text().strip()
    report.check(toolbar == KERNEL_DISPLAY, "JupyterLab's toolbar names the kernel", repr(toolbar))

    prompts = run_all(page, lab, rel, n_code, timeout)
    page.screenshot(path=shots / f"{stem}_lab_after_run.png")
    not_run = [p or "[ ]:" for p in prompts if not p.strip("[]: ").isdigit()]
    report.check(len(prompts) == n_code and not not_run, "every code cell ran",
                 f"{executed_count(prompts)}/{n_code}" + (f"; not run: {' '.join(not_run)}" if not_run else ""))
    errors = page.evaluate(ERRORS_JS)
    report.check(not errors, "no cell shows an error", "; ".join(errors))

    images = page.evaluate(IMAGES_JS)
    static = [i for i in images if not i["inWidget"]]
    drawn = [i for i in images if i["complete"] and i["width"] > 0 and i["height"] > 0]
    report.check(len(static) >= n_figures and len(drawn) == len(images), "the figures appear inline",
                 f"{len(drawn)} of {len(images)} images drawn, {len(static)} outside widgets (expected {n_figures})")
    outputs = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img")
    for k in range(outputs.count()):
        outputs.nth(k).scroll_into_view_if_needed()
        outputs.nth(k).screenshot(path=shots / f"{stem}_figure_{k + 1}.png")

    viewer_shot = check_viewer(page, shots, report) if viewer else None
    if viewer:
        errors = page.evaluate(ERRORS_JS)
        report.check(not errors, "no error shown after moving the slider", "; ".join(errors))

    # Save from the File menu and check the file too: the same execution counts, no error output, the figures.
    nb = save(page, path)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    shown = [int(p.strip("[]: ")) if p.strip("[]: ").isdigit() else None for p in prompts]
    report.check(counts == shown, "the saved notebook has the execution counts the page shows", str(counts))
    saved = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in saved if o.output_type == "error"]
    report.check(not errors, "the saved notebook holds no error output", "; ".join(errors))
    pngs = sum(1 for o in saved if "image/png" in o.get("data", {}))
    report.check(pngs >= n_figures, "the saved notebook holds the inline figures", f"{pngs} PNG outputs")
    if viewer:  # the cell that displays plotting.slice_viewer (tqdm's progress bars are widget views too)
        cell = next(c for c in nb.cells if c.cell_type == "code" and "slice_viewer(" in c.source)
        views = [o for o in cell.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        report.check(len(views) == 1 and views[0].data["text/plain"].startswith("interactive("),
                     "the saved notebook holds the viewer's widget view", f"{len(views)} widget view(s) in its cell")
    lab.api(f"sessions/{lab.session(rel)['id']}", method="DELETE")  # free the CPU for the next notebook
    return viewer_shot


def save_docs_screenshot(shot: Path, target: Path) -> None:
    """A small copy of the viewer screenshot for docs/, cropped to what is drawn (the widget area is as wide as the
    notebook)."""
    image = Image.open(shot).convert("RGB")
    drawn = np.argwhere(np.asarray(image).min(axis=2) < 250)
    (top, left), (bottom, right) = drawn.min(axis=0), drawn.max(axis=0)
    margin = 8
    image = image.crop((max(left - margin, 0), max(top - margin, 0), min(right + margin, image.width),
                        min(bottom + margin, image.height)))
    image.save(target, optimize=True)
    print(f"wrote {target} ({image.width}x{image.height}, {target.stat().st_size // 1024} KiB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chromium", default=CHROMIUM, help=f"the browser binary (default {CHROMIUM})")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for one notebook's run")
    parser.add_argument("--docs-screenshot", type=Path, help="also write the viewer screenshot here (docs/)")
    args = parser.parse_args(argv)

    root = project_root()
    out_rel = "outputs/browser"
    out = root / out_rel
    if not Path(args.chromium).is_file():
        print(f"browser test NOT run: no browser at {args.chromium}; run `make browser-setup` (Debian's chromium)")
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("browser test NOT run: Playwright's Python client is missing; run `make browser-setup`")
        return 2
    shutil.rmtree(out, ignore_errors=True)
    shots, copies = out / "screenshots", out / "notebooks"
    shots.mkdir(parents=True)
    copies.mkdir()
    report = Report()
    viewer_shot = None
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="strokelib-lab-") as scratch:
        lab = Lab(root, out / "jupyterlab.log", Path(scratch))
        os.environ.update({k: lab.env[k] for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR")})
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        try:
            spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
            python = Path(spec.argv[0])
            detail = f"{spec.display_name!r} runs {python.name} in {python.parent.parent.name}/"
            ok = python.resolve() == Path(sys.executable).resolve()
        except NoSuchKernel:
            ok, detail = False, "not registered; run `make setup`"
        if not report.check(ok, f"the {KERNEL_NAME!r} kernel runs this environment's Python", detail):
            return 1
        try:
            lab.start()
            print(f"JupyterLab on {lab.url} (token set; log {out_rel}/jupyterlab.log)", flush=True)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
                print(f"Chromium {browser.version} (headless, fresh profile)", flush=True)
                context = browser.new_context(viewport=VIEWPORT)
                page = context.new_page()
                page.goto(f"{lab.url}/lab?token={lab.token}")  # logs in: the token becomes a cookie
                page.locator("#jp-MainMenu").wait_for(timeout=120_000)
                for name, extra, n_figures, viewer in NOTEBOOKS:
                    path = prepare_notebook(root, name, extra, copies, out_rel)
                    try:
                        shot = check_notebook(page, lab, root, path, n_figures, viewer, shots, args.timeout, report)
                        viewer_shot = viewer_shot or shot
                    except CheckFailed as exc:
                        page.screenshot(path=shots / f"{name[:2]}_failure.png")
                        report.check(False, f"{name} in JupyterLab", str(exc))
                    except Exception as exc:  # noqa: BLE001 - a Playwright timeout etc.: report it as a failure
                        page.screenshot(path=shots / f"{name[:2]}_failure.png")
                        report.check(False, f"{name} in JupyterLab", f"{type(exc).__name__}: {exc}")
                browser.close()
        except CheckFailed as exc:
            report.check(False, "JupyterLab", str(exc))
        except Exception as exc:  # noqa: BLE001 - the browser did not start or JupyterLab did not load
            report.check(False, "JupyterLab in Chromium", f"{type(exc).__name__}: {exc}")
        finally:
            lab.stop()
    if args.docs_screenshot and viewer_shot and not report.failures:
        save_docs_screenshot(viewer_shot, args.docs_screenshot)
    elapsed = time.monotonic() - start
    if report.failures:
        print(f"\nbrowser test FAILED ({len(report.failures)} checks, {elapsed:.0f} s); screenshots in {out_rel}/screenshots/:")
        for failure in report.failures:
            print(f"  - {failure.splitlines()[0]}")
        return 1
    print(f"\nbrowser test passed in {elapsed:.0f} s; screenshots in {out_rel}/screenshots/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
