"""Every page in a real Chromium: it loads without an exception element (screenshot saved), the sentence
follows the student across pages, and the Formula and Compare pages respond to input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import BROKEN_USER_MODEL, REPOSITORY_ROOT, TEXT_INPUT_SELECTOR

pytestmark = pytest.mark.browser

SENTENCE = "the plot was dull and the acting was wooden"
OTHER_SENTENCE = "a warm funny and clever little film"


def page_url_path(script: Path) -> str:
    """Streamlit's URL for a page file: ``pages/2_Compare.py`` → ``/Compare``; the entry page is ``/``."""
    if script.name == "app.py":
        return "/"
    return "/" + re.sub(r"^\d+_", "", script.stem)


PAGE_SCRIPTS = [REPOSITORY_ROOT / "app.py", *sorted((REPOSITORY_ROOT / "pages").glob("*.py"))]


@pytest.mark.parametrize("script", PAGE_SCRIPTS, ids=lambda script: script.stem)
def test_every_page_loads_without_an_exception(app_page, artifacts_directory, script):
    app_page.goto(page_url_path(script))
    page = app_page.page
    page.locator("[data-testid=stMain] h1").first.wait_for(timeout=30_000)  # the page drew its title
    app_page.wait_until_idle()
    assert app_page.exceptions() == []
    assert app_page.dialogs == []
    app_page.screenshot(artifacts_directory, f"page-{script.stem}")


def test_the_sentence_follows_the_student_to_the_formula_page_which_responds_to_input(app_page, model,
                                                                                        artifacts_directory):
    first, second = model.analyze(SENTENCE), model.analyze(OTHER_SENTENCE)
    app_page.goto("/")
    app_page.wait_for_heatmap()
    field = app_page.page.locator(f"[data-testid=stMain] {TEXT_INPUT_SELECTOR}").first
    field.fill(SENTENCE)
    field.press("Enter")
    app_page.wait_for_heatmap(first.n_tokens)

    # Navigate like a student (sidebar link), not by URL: the sentence must come along in the session.
    app_page.page.locator("[data-testid=stSidebarNavLink][href$='/Formula']").click()
    app_page.page.wait_for_url(re.compile(r"/Formula"))
    heatmap = app_page.wait_for_heatmap(first.n_tokens)
    np.testing.assert_allclose(heatmap["z"], first.attention, atol=1e-6)
    text_area = app_page.page.locator("[data-testid=stMain] [data-testid=stTextArea] textarea").first
    expect(text_area).to_have_value(SENTENCE)  # retries: the widget may still be re-rendering

    text_area.fill(OTHER_SENTENCE)
    text_area.press("Control+Enter")  # st.text_area applies on Ctrl+Enter (or on leaving the box)
    heatmap = app_page.wait_for_heatmap(second.n_tokens)
    np.testing.assert_allclose(heatmap["z"], second.attention, atol=1e-6)
    assert [label.split(" #")[0] for label in heatmap["ticktext"]] == second.tokens
    assert app_page.exceptions() == []
    app_page.screenshot(artifacts_directory, "formula-edited")


def test_compare_page_responds_to_input(app_page, model, artifacts_directory):
    first, second = model.analyze(SENTENCE), model.analyze(OTHER_SENTENCE)
    app_page.goto("/Compare")
    app_page.wait_for_heatmap()
    page = app_page.page
    for label, sentence, expected in (("Input A", SENTENCE, first), ("Input B", OTHER_SENTENCE, second)):
        field = page.get_by_role("textbox", name=label, exact=True)
        field.fill(sentence)
        field.press("Enter")
        app_page.wait_for_heatmap(expected.n_tokens)
    page.wait_for_function(
        "([a, b]) => { const values = Array.from(document.querySelectorAll("
        "'[data-testid=stMetric]:has([data-testid=stMetricLabel]) [data-testid=stMetricValue]'), e => e.innerText);"
        " return values.includes(a) && values.includes(b); }",
        arg=[f"{first.probability:.3f}", f"{second.probability:.3f}"], timeout=30_000)
    heatmaps = app_page.heatmaps()
    sizes = [heatmap["rows"] for heatmap in heatmaps]
    assert first.n_tokens in sizes and second.n_tokens in sizes
    assert app_page.exceptions() == []
    assert page.url.count("text=") >= 2  # both inputs are in the shareable URL
    app_page.screenshot(artifacts_directory, "compare-edited")


def test_a_corrupted_model_shows_how_to_restore_it_instead_of_a_traceback(app_page, artifacts_directory):
    app_page.goto(f"/?model={BROKEN_USER_MODEL}")
    alert = app_page.page.locator("[data-testid=stAlert]", has_text="could not be loaded").first
    alert.wait_for(timeout=30_000)
    app_page.wait_until_idle()
    message = alert.inner_text()
    assert "python -m attnviz train" in message and "git checkout -- models/" in message
    assert app_page.exceptions() == []
    assert app_page.heatmaps() == []
    assert "Traceback" not in app_page.page.locator("[data-testid=stMain]").inner_text()
    app_page.screenshot(artifacts_directory, "explore-corrupted-model")


def test_classroom_mode_from_a_shared_link(app_page, artifacts_directory):
    """A teacher's link with classroom=1: bigger figures, same numbers, no exception."""
    app_page.goto(f"/?classroom=1&text={SENTENCE.replace(' ', '+')}")
    heatmap = app_page.wait_for_heatmap(len(SENTENCE.split()))
    assert heatmap["rows"] == len(SENTENCE.split())
    assert app_page.exceptions() == []
    assert "classroom=1" in app_page.page.url  # stays in the URL, so a reload keeps the mode
    app_page.screenshot(artifacts_directory, "explore-classroom")
