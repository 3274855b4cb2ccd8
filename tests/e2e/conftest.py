"""Browser end-to-end fixtures: one real ``streamlit run app.py`` server and one headless Debian Chromium.

The server and the browser start once per test session (TensorFlow's import costs seconds); every test gets
a fresh browser context, so no cookies, session state or URL leak from one test into the next.

Without ``/usr/bin/chromium`` a local run skips these tests with the reason; under ``CI=true`` the same
situation fails, so the browser tests can never silently stop running in CI.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest

from benchmarks.browser_common import (  # the one implementation of the app server, shared with the benchmarks
    CHROMIUM_ARGS,
    start_server,
    stop_server,
    wait_for_health,
)

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIRECTORY = REPOSITORY_ROOT / "test-artifacts"
CHROMIUM_PATH = Path("/usr/bin/chromium")
SERVER_START_TIMEOUT = 90    # seconds until /_stcore/health answers "ok" (TensorFlow imports lazily, later)
APP_IDLE_TIMEOUT_MS = 90_000  # first run of a page loads TensorFlow and the model in the server
UPDATE_TIMEOUT_MS = 30_000    # one rerun after an edit (the model is already loaded)
SERVER_LOG_NAME = "streamlit-e2e.log"  # in test-artifacts/

APP_IDLE_SELECTOR = "[data-testid=stApp][data-test-script-state=notRunning]"
TEXT_INPUT_SELECTOR = "[data-testid=stTextInput] input"
EXCEPTION_SELECTOR = "[data-testid=stException]"
ALERT_SELECTOR = "[data-testid=stAlert]"

# JavaScript run in the page: the attention heatmap(s) Plotly actually drew. Plotly keeps the figure on the
# `.js-plotly-plot` element (`data`, `layout`); `_fullData` holds decoded arrays even when the spec used bdata.
HEATMAPS_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(plot => {
    const traces = (plot._fullData && plot._fullData.length ? plot._fullData : plot.data) || [];
    return traces.filter(trace => trace.type === 'heatmap').map(trace => {
        const z = Array.from(trace.z || [], row => Array.from(row));
        const layout = plot._fullLayout || plot.layout || {};
        const xaxis = layout.xaxis || {};
        return {
            rows: z.length,
            columns: z.length ? z[0].length : 0,
            z: z,
            x: Array.from(trace.x || []),
            ticktext: Array.from(xaxis.ticktext || []),
            xtickElements: plot.querySelectorAll('g.xtick').length,  // tick label groups (path.xtick = tick marks)
        };
    });
})
"""


def require_chromium() -> Path:
    """The Chromium binary, or a skip (locally) / failure (CI=true) that says what is missing."""
    if CHROMIUM_PATH.exists():
        return CHROMIUM_PATH
    reason = (f"{CHROMIUM_PATH} is missing: install Debian's chromium (`apt-get install -y chromium`) to run "
              "the browser end-to-end tests")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def artifacts_directory() -> Path:
    ARTIFACTS_DIRECTORY.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIRECTORY


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session (Playwright's sync API)."""
    executable = require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but the playwright package is not installed (pip install -r requirements-dev.txt)")
        pytest.skip("the playwright package is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


BROKEN_USER_MODEL = "broken-copy"  # a user model whose model.keras is garbage (see app_server)


@pytest.fixture(scope="session")
def user_models_directory(tmp_path_factory) -> Path:
    """The server's ATTNVIZ_USER_MODELS_DIR: empty except for one corrupted copy of the shipped model,
    so a test can open ``?model=broken-copy`` and see the "model could not be loaded" page."""
    directory = tmp_path_factory.mktemp("user_models")
    broken = directory / BROKEN_USER_MODEL
    shutil.copytree(REPOSITORY_ROOT / "models" / "en", broken)
    (broken / "model.keras").write_bytes(b"not a keras archive\x00" * 64)
    return directory


@pytest.fixture(scope="session")
def app_server(browser, artifacts_directory, user_models_directory):
    """``streamlit run app.py`` on a free localhost port; yields its base URL; always stopped afterwards.

    Depends on ``browser`` so that a missing Chromium skips before a server is started for nothing.
    """
    server = start_server(artifacts_directory / SERVER_LOG_NAME,
                          extra_environment={"ATTNVIZ_USER_MODELS_DIR": str(user_models_directory)})
    try:
        wait_for_health(server, timeout=SERVER_START_TIMEOUT)
        yield server.base_url
    finally:
        stop_server(server)


class AppPage:
    """A Playwright page on the app plus the things every test checks: dialogs and top-level navigations."""

    def __init__(self, page, base_url: str, server_log: Path | None = None) -> None:
        self.page = page
        self.base_url = base_url
        self.server_log = server_log
        self.dialogs: list[str] = []
        self.navigations: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("framenavigated", self._on_navigation)

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _on_navigation(self, frame) -> None:
        if frame == self.page.main_frame:
            self.navigations.append(frame.url)

    def goto(self, path: str = "/", timeout_ms: int = APP_IDLE_TIMEOUT_MS) -> None:
        self.page.goto(self.base_url + path, wait_until="domcontentloaded", timeout=timeout_ms)
        self.wait_until_idle(timeout_ms)

    def wait_until_idle(self, timeout_ms: int = APP_IDLE_TIMEOUT_MS) -> None:
        """Wait until the app has rendered and no script run is in progress."""
        self.page.wait_for_selector(APP_IDLE_SELECTOR, state="attached", timeout=timeout_ms)

    def heatmaps(self) -> list[dict]:
        return self.page.evaluate(HEATMAPS_JS)

    def wait_for_heatmap(self, n_tokens: int | None = None, timeout_ms: int = UPDATE_TIMEOUT_MS) -> dict:
        """Wait until a heatmap is drawn (with ``n_tokens`` rows and columns when given) and the run is over.

        If it never appears because the page shows an exception, fail with the server's error line instead
        of a bare timeout (users see no details: ``client.showErrorDetails = "none"``).
        """
        try:
            self.page.wait_for_function(
                f"([wanted]) => ({HEATMAPS_JS})().some(h => wanted === null ? h.rows > 0 "
                ": (h.rows === wanted && h.columns === wanted))",
                arg=[n_tokens], timeout=timeout_ms)
        except Exception:
            if self.exceptions():
                raise AssertionError(f"the page shows an exception; server log: {self.server_error()}") from None
            raise
        self.wait_until_idle(timeout_ms)
        matching = [h for h in self.heatmaps() if n_tokens is None or h["rows"] == n_tokens]
        return matching[0]

    def submit_text(self, text: str, index: int = 0) -> None:
        """Type ``text`` into the ``index``-th text input and press Enter (what a student does)."""
        field = self.page.locator(TEXT_INPUT_SELECTOR).nth(index)
        field.fill(text)
        field.press("Enter")

    def server_error(self) -> str:
        """The last error line of the server's log (ANSI colours removed), or "" when there is none."""
        if self.server_log is None or not self.server_log.is_file():
            return ""
        text = re.sub(r"\x1b\[[0-9;]*m", "", self.server_log.read_text(encoding="utf-8", errors="replace"))
        errors = [line.strip() for line in text.splitlines() if re.match(r"^\w*(Error|Exception)\b", line.strip())]
        return errors[-1] if errors else ""

    def exceptions(self) -> list[str]:
        return self.page.locator(EXCEPTION_SELECTOR).all_inner_texts()

    def alerts(self) -> list[str]:
        return self.page.locator(ALERT_SELECTOR).all_inner_texts()

    def screenshot(self, directory: Path, name: str) -> Path:
        # Widgets are lazily loaded JavaScript chunks: let them arrive so the picture shows them, not skeletons.
        with contextlib.suppress(Exception):
            self.page.wait_for_load_state("networkidle", timeout=5_000)
        path = directory / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def new_app_page(browser, app_server, artifacts_directory):
    """Factory: a page in a FRESH browser context (own cookies, storage and Streamlit session)."""
    contexts = []

    def make() -> AppPage:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(UPDATE_TIMEOUT_MS)
        contexts.append(context)
        return AppPage(context.new_page(), app_server, artifacts_directory / SERVER_LOG_NAME)

    yield make
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


@pytest.fixture
def app_page(new_app_page) -> AppPage:
    return new_app_page()
