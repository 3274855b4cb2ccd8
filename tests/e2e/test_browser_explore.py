"""The Explore page in a real Chromium: typing + Enter, the heatmap in the DOM, shared URLs, bad input.

Expected numbers come from the same model the server loads (the session ``model`` fixture), so these tests
check that what the browser draws IS the model's analysis, not just that something was drawn.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import REPOSITORY_ROOT, TEXT_INPUT_SELECTOR

pytestmark = pytest.mark.browser

MAIN_TEXT_INPUT = f"[data-testid=stMain] {TEXT_INPUT_SELECTOR}"
# The probability metric (labelled "P(positive)"; matched loosely so a relabel does not break the test).
PROBABILITY_METRIC = ("[data-testid=stMetric]:has([data-testid=stMetricLabel]:has-text('positive')) "
                      "[data-testid=stMetricValue]")
# A repeated word ("the" ×2, "was" ×2) must still get one column per position.
EDITED_SENTENCE = "the plot was dull and the acting was wooden"


def submit(app_page, text: str) -> None:
    field = app_page.page.locator(MAIN_TEXT_INPUT).first
    field.fill(text)
    field.press("Enter")


def assert_heatmap_is_the_analysis(heatmap: dict, analysis) -> None:
    n = analysis.n_tokens
    assert (heatmap["rows"], heatmap["columns"]) == (n, n)
    assert heatmap["xtickElements"] == n, "one tick (column label) per token position in the DOM"
    assert heatmap["x"] == list(range(n))
    assert len(heatmap["ticktext"]) == n
    for label, token in zip(heatmap["ticktext"], analysis.tokens):
        assert label.startswith(token) or token in {"<", ">", "&"}  # escaped labels differ only for these
    drawn = np.array(heatmap["z"], dtype=float)
    np.testing.assert_allclose(drawn, analysis.attention, atol=1e-6)
    np.testing.assert_allclose(drawn.sum(axis=1), 1.0, atol=1e-5)


def test_typing_a_sentence_and_pressing_enter_updates_prediction_and_heatmap(app_page, model, artifacts_directory):
    expected = model.analyze(EDITED_SENTENCE)
    app_page.goto("/")
    if app_page.wait_for_heatmap()["rows"] == expected.n_tokens:
        # Start from a view of another size, so the wait below cannot pass on the old heatmap.
        submit(app_page, "one two")
        app_page.wait_for_heatmap(2)

    submit(app_page, EDITED_SENTENCE)
    heatmap = app_page.wait_for_heatmap(expected.n_tokens)

    assert_heatmap_is_the_analysis(heatmap, expected)
    page = app_page.page
    assert page.locator(PROBABILITY_METRIC).first.inner_text() == f"{expected.probability:.3f}"
    assert page.locator("[data-testid=stMetricValue]", has_text=f"{expected.logit:+.3f}").count() == 1
    verdict = "positive" if expected.label == "positive" else "negative"
    assert page.get_by_text(verdict, exact=False).first.is_visible()
    assert parse_qs(urlparse(page.url).query)["text"] == [EDITED_SENTENCE]  # the URL is shareable
    assert app_page.exceptions() == []
    app_page.screenshot(artifacts_directory, "explore-edited")


def test_a_shared_url_reproduces_the_view_in_a_fresh_browser_context(new_app_page, model):
    expected = model.analyze(EDITED_SENTENCE)
    author = new_app_page()
    author.goto("/")
    author.wait_for_heatmap()
    submit(author, EDITED_SENTENCE)
    original = author.wait_for_heatmap(expected.n_tokens)
    original_probability = author.page.locator(PROBABILITY_METRIC).first.inner_text()
    shared_url = author.page.url

    reader = new_app_page()  # new context: no cookies, no session state, only the URL
    reader.goto(shared_url.removeprefix(reader.base_url))
    reproduced = reader.wait_for_heatmap(expected.n_tokens)

    expect(reader.page.locator(MAIN_TEXT_INPUT).first).to_have_value(EDITED_SENTENCE)
    assert reproduced["ticktext"] == original["ticktext"]
    assert reproduced["z"] == original["z"]
    assert reader.page.locator(PROBABILITY_METRIC).first.inner_text() == original_probability
    assert reader.exceptions() == []


BAD_INPUTS = [  # (text, the message a student must see); one page walks through all of them
    ("", "no words the model can read"),
    ("!!! ??? ...", "no words the model can read"),
    ("zzqxv qqzvw xkcdq", "knows none of these words"),
]


def test_bad_inputs_show_their_messages_and_never_an_exception(app_page, model):
    app_page.goto("/")
    app_page.wait_for_heatmap()
    for text, expected_message in BAD_INPUTS:
        submit(app_page, text)
        app_page.page.get_by_text(expected_message, exact=False).first.wait_for(timeout=30_000)
        app_page.wait_until_idle()
        assert app_page.exceptions() == [], text
        if "no words" in expected_message:
            assert app_page.heatmaps() == [], f"no heatmap for {text!r}, which has no tokens"
        else:
            assert app_page.heatmaps()[0]["rows"] == model.analyze(text).n_tokens
        # Back to a normal sentence, so the next bad input starts from a drawn view.
        submit(app_page, EDITED_SENTENCE)
        app_page.wait_for_heatmap(model.analyze(EDITED_SENTENCE).n_tokens)


def test_long_text_is_truncated_with_a_warning_and_the_count(app_page, model):
    words = ("a long film with many scenes and far too many words " * 30).split()  # 330 tokens
    expected = model.analyze(" ".join(words))
    assert expected.truncated and expected.n_tokens == model.max_tokens
    app_page.goto("/")
    app_page.wait_for_heatmap()
    submit(app_page, " ".join(words))
    heatmap = app_page.wait_for_heatmap(model.max_tokens, timeout_ms=60_000)
    assert heatmap["rows"] == model.max_tokens
    warning = app_page.page.get_by_text(f"This text has {len(words)} words", exact=False).first
    assert warning.is_visible()
    assert app_page.exceptions() == []


CHINESE_SENTENCE = "这部电影太好看了"
CHINESE_MODEL = REPOSITORY_ROOT / "models" / "zh" / "model.keras"


@pytest.mark.skipif(not CHINESE_MODEL.is_file(), reason="models/zh is not there yet (the Chinese model is trained "
                                                        "separately); only its absence skips this test")
def test_a_chinese_sentence_renders(app_page, artifacts_directory):
    """With the default model choice, as a student would type it (the app picks the Chinese model)."""
    import attnviz

    expected = attnviz.load_model("zh").analyze(CHINESE_SENTENCE)
    assert expected.n_tokens > 1
    app_page.goto("/")
    app_page.wait_for_heatmap()
    if app_page.heatmaps()[0]["rows"] == expected.n_tokens:  # make sure the wait below sees a change
        submit(app_page, EDITED_SENTENCE)
        app_page.wait_for_heatmap(len(EDITED_SENTENCE.split()))
    submit(app_page, CHINESE_SENTENCE)
    heatmap = app_page.wait_for_heatmap(expected.n_tokens)
    assert_heatmap_is_the_analysis(heatmap, expected)
    assert any("\u4e00" <= character <= "\u9fff" for character in "".join(heatmap["ticktext"]))
    assert app_page.exceptions() == []
    app_page.screenshot(artifacts_directory, "explore-chinese")
