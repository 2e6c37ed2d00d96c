"""A real browser: JupyterLab (token auth on) in headless Debian Chromium runs lesson 00's solution,
then a slider is moved and the widget's figure must change. Saves a screenshot to tests/artifacts/.

Run with `make browser-test` (needs `apt-get install chromium`; playwright never downloads a browser).
"""
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
NOTEBOOK = "solutions/basics/00_tensors_autograd.ipynb"
ARTIFACTS = ROOT / "tests" / "artifacts"


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    port, token = _free_port(), secrets.token_hex(16)
    settings = tmp_path_factory.mktemp("lab-settings")
    _write(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
           '{"windowingMode": "none"}')  # render every cell, so the widget exists off-screen too
    _write(settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
           '{"fetchNews": "false", "checkForUpdates": false}')
    workdir = tmp_path_factory.mktemp("lab-root")  # a copy: the browser's edits never touch the repo
    shutil.copy(ROOT / NOTEBOOK, workdir / Path(NOTEBOOK).name)
    env = {**os.environ, "TQDM_DISABLE": "1", "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path_factory.mktemp("lab-workspaces")),
           "JUPYTER_CONFIG_DIR": str(tmp_path_factory.mktemp("jupyter-config"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workdir}", "--ServerApp.allow_root=True"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("JupyterLab did not start:\n" + proc.stdout.read().decode(errors="replace")[-3000:])
            time.sleep(0.5)
    yield base, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_token_is_required(lab):
    base, _ = lab
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}/api/contents", timeout=5)
    assert err.value.code == 403


def test_lesson_runs_and_slider_redraws_figure(lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    base, token = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/lab/tree/{Path(NOTEBOOK).name}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            select_kernel = page.locator(".jp-Dialog button:has-text('Select')")
            try:  # a fresh settings directory may ask which kernel to start
                select_kernel.click(timeout=10_000)
            except PlaywrightTimeout:
                pass
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
            page.click("text=Run", timeout=10_000)
            page.click("text=Run All Cells", timeout=10_000)
            slider = page.wait_for_selector(".widget-hslider .noUi-handle", state="attached", timeout=120_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            figure = page.locator(".widget-output img").first
            figure.wait_for(timeout=60_000)
            before = figure.get_attribute("src")
            slider.scroll_into_view_if_needed()
            slider.click()
            for _ in range(8):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "before => { const img = document.querySelector('.widget-output img');"
                " return img && img.getAttribute('src') !== before; }", arg=before, timeout=60_000)
            figure.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "jupyterlab_lesson00.png"))
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert errors.count() == 0, errors.first.inner_text()
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "jupyterlab_failure.png"))
            raise
        finally:
            browser.close()
