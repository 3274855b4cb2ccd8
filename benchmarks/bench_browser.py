"""Browser benchmark of one student: cold start, Enter → updated heatmap, page switches.

    python benchmarks/bench_browser.py [--edits 30] [--output benchmarks/results/browser.json]

1. Cold start: from ``streamlit run app.py`` being spawned to the first attention heatmap drawn in Chromium
   (the browser opens the page as soon as ``/_stcore/health`` answers; the browser's own launch is excluded).
2. Edits: type a sentence into the Explore text box, press Enter, stop the clock when the heatmap has one
   row and one column per token of the new sentence and the script run has finished. p50/p95 over --edits.
3. Page switch: click each sidebar page link, stop the clock when the new page's script run has finished.

Only 127.0.0.1 is contacted. Prints one JSON document (also written to --output).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_common import (  # after the sys.path tweak: the sibling module
    ARM_RUN_WATCHER_JS,
    CHROMIUM_ARGS,
    CHROMIUM_PATH,
    EXCEPTION_SELECTOR,
    HEATMAP_HAS_SIZE_JS,
    HEATMAP_SIZE_JS,
    LOG_DIRECTORY,
    REPOSITORY_ROOT,
    RUN_FINISHED_JS,
    TEXT_INPUT_SELECTOR,
    app_version,
    machine_description,
    process_rss_megabytes,
    sentence_stream,
    start_server,
    stop_server,
    summary,
    timestamped_result_path,
    wait_for_health,
)

UPDATE_TIMEOUT_MS = 30_000
COLD_START_TIMEOUT_MS = 180_000
PAGE_SWITCH_ROUNDS = 3  # visit every page this many times (the first visit of a page includes its imports)


def measure_cold_start(browser, server) -> tuple[object, dict]:
    """Open the app the moment the server is healthy; return (page, timings in seconds)."""
    health_seconds = wait_for_health(server)
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(server.base_url + "/", wait_until="domcontentloaded", timeout=COLD_START_TIMEOUT_MS)
    page.wait_for_function(HEATMAP_HAS_SIZE_JS, arg=[None], timeout=COLD_START_TIMEOUT_MS)
    first_heatmap_seconds = time.perf_counter() - server.started_at
    return page, {"health_ok_seconds": round(health_seconds, 3),
                  "first_heatmap_seconds": round(first_heatmap_seconds, 3)}


def measure_edits(page, count: int) -> dict:
    """Enter → heatmap with the new sentence's size, ``count`` times; latencies in seconds."""
    current = page.evaluate(HEATMAP_SIZE_JS)
    sentences = sentence_stream(seed=7, avoid_length=current["rows"] if current else None)
    field = page.locator(TEXT_INPUT_SELECTOR).first
    latencies, failures = [], []
    for _ in range(count):
        sentence, n_tokens = next(sentences)
        field.fill(sentence)
        started = time.perf_counter()
        field.press("Enter")
        try:
            page.wait_for_function(HEATMAP_HAS_SIZE_JS, arg=[n_tokens], timeout=UPDATE_TIMEOUT_MS, polling=10)
            latencies.append(time.perf_counter() - started)
        except Exception as error:  # a timeout is a measured failure, not a crash of the benchmark
            failures.append(f"{n_tokens} tokens: {type(error).__name__}")
    if page.locator(EXCEPTION_SELECTOR).count():
        failures.append("an exception element is on the page")
    return {"latency_seconds": summary(latencies), "failures": failures}


def measure_page_switches(page, base_url: str) -> dict:
    """Click every sidebar page link in turn; time until that page's script run has finished."""
    links = page.locator("[data-testid=stSidebarNavLink]")
    hrefs = [links.nth(index).get_attribute("href") for index in range(links.count())]
    by_page: dict[str, list[float]] = {}
    first_visit: dict[str, float] = {}
    failures = []
    for _ in range(PAGE_SWITCH_ROUNDS):
        for href in hrefs:
            link = page.locator(f"[data-testid=stSidebarNavLink][href='{href}']").first
            page.evaluate(ARM_RUN_WATCHER_JS)
            started = time.perf_counter()
            link.click()
            try:
                page.wait_for_function(RUN_FINISHED_JS, timeout=UPDATE_TIMEOUT_MS * 2, polling=10)
            except Exception as error:
                failures.append(f"{href}: {type(error).__name__}")
                continue
            elapsed = time.perf_counter() - started
            name = urlparse(href).path.strip("/") or "Explore"
            if name not in first_visit:
                first_visit[name] = round(elapsed, 3)
            else:
                by_page.setdefault(name, []).append(elapsed)
            if page.locator(EXCEPTION_SELECTOR).count():
                failures.append(f"{href}: exception element")
    repeated = [value for values in by_page.values() for value in values]
    return {"first_visit_seconds": first_visit, "repeat_visit_seconds": summary(repeated),
            "repeat_visit_p50_by_page": {name: summary(values)["p50"] for name, values in by_page.items()},
            "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--output", type=Path, default=None,
                        help="result file (default: benchmarks/results/browser-<UTC time>.json, never overwritten)")
    parser.add_argument("--app-root", type=Path, default=REPOSITORY_ROOT,
                        help="checkout whose app.py to serve, e.g. a git worktree of an older commit")
    arguments = parser.parse_args(argv)
    arguments.output = arguments.output or timestamped_result_path("browser")

    from playwright.sync_api import sync_playwright

    result: dict = {"benchmark": "browser", "machine": machine_description(), "app": app_version(arguments.app_root)}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True)
        server = start_server(LOG_DIRECTORY / "bench_browser-streamlit.log", arguments.app_root)
        try:
            page, result["cold_start"] = measure_cold_start(browser, server)
            result["edits"] = measure_edits(page, arguments.edits)
            result["page_switch"] = measure_page_switches(page, server.base_url)
            result["server_rss_mb_after"] = round(process_rss_megabytes(server.process.pid), 1)
        finally:
            stop_server(server)
            browser.close()
    text = json.dumps(result, indent=2, ensure_ascii=False)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
