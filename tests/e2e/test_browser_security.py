"""Hostile text in a real browser: typed into the Explore page or carried by a shared URL into every page.

A payload "worked" if it opened a dialog, added an element or attribute that runs script, turned an entity
back into markup, or navigated the page away from the app. None of that may happen.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlparse

import pytest

from tests.e2e.conftest import TEXT_INPUT_SELECTOR

pytestmark = pytest.mark.browser

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "&lt;b&gt;bold&lt;/b&gt;",
    "<svg onload=alert(1)>",
]
# Everything in one sentence as well, between ordinary words, so each page is visited once per vector.
COMBINED_PAYLOAD = "great film " + " and ".join(XSS_PAYLOADS) + " bold"

# JavaScript: anything a payload would have created. Streamlit itself adds no such elements.
INJECTION_PROBE_JS = """
() => ({
    imgX: document.querySelectorAll('img[src="x"]').length,
    svgOnload: document.querySelectorAll('svg[onload]').length,
    eventHandlers: document.querySelectorAll('[onerror], [onload], [onclick], [onmouseover]').length,
    javascriptLinks: document.querySelectorAll('a[href^="javascript:" i]').length,
    alertScripts: Array.from(document.scripts).filter(s => s.textContent.includes('alert(1)')).length,
    // A decoded "&lt;b&gt;" would become a <b> element. (Markdown **word** gives <strong>: the page bolds the
    // strongest token on purpose, and the token may well be "bold".)
    boldFromEntities: Array.from(document.querySelectorAll('[data-testid=stMain] b'))
        .filter(e => e.textContent.trim() === 'bold').length,
    boldTspans: Array.from(document.querySelectorAll('.js-plotly-plot tspan'))
        .filter(e => e.textContent.trim() === 'bold' && /bold/.test(e.getAttribute('style') || '')).length,
})
"""
CLEAN = {"imgX": 0, "svgOnload": 0, "eventHandlers": 0, "javascriptLinks": 0, "alertScripts": 0,
         "boldFromEntities": 0, "boldTspans": 0}


def assert_not_exploited(app_page, context: str) -> None:
    assert app_page.dialogs == [], f"{context}: a dialog opened"
    assert app_page.page.evaluate(INJECTION_PROBE_JS) == CLEAN, context
    for url in [*app_page.navigations, app_page.page.url]:
        parsed, base = urlparse(url), urlparse(app_page.base_url)
        assert (parsed.scheme, parsed.netloc) == (base.scheme, base.netloc), f"{context}: navigated to {url}"
    assert app_page.exceptions() == [], context


def test_payloads_typed_into_the_explore_page_stay_text(app_page):
    app_page.goto("/")
    app_page.wait_for_heatmap()
    field = app_page.page.locator(f"[data-testid=stMain] {TEXT_INPUT_SELECTOR}").first
    for payload in [*XSS_PAYLOADS, COMBINED_PAYLOAD]:
        field.fill(payload)
        field.press("Enter")
        app_page.page.wait_for_function(
            "(wanted) => new URL(location.href).searchParams.get('text') === wanted", arg=payload)
        app_page.wait_until_idle()
        app_page.page.wait_for_timeout(300)  # give onerror/onload handlers a chance to fire, if they existed
        assert field.input_value() == payload
        assert_not_exploited(app_page, f"typed {payload!r}")


@pytest.mark.parametrize("path", ["/", "/Formula", "/Compare"])  # the pages that display the sentence
def test_payloads_in_a_shared_url_stay_text_on_every_page(app_page, artifacts_directory, path):
    # Compare reads repeated text parameters (up to four inputs); the other pages read the first.
    query = urlencode([("text", COMBINED_PAYLOAD), *(("text", payload) for payload in XSS_PAYLOADS[:3])])
    app_page.goto(f"{path}?{query}")
    app_page.page.locator("[data-testid=stMain] h1").first.wait_for(timeout=30_000)
    app_page.wait_until_idle()
    app_page.page.wait_for_timeout(300)
    assert_not_exploited(app_page, f"{path} with payloads in the URL")
    name = path.strip("/") or "Explore"
    app_page.screenshot(artifacts_directory, f"xss-{name}")
