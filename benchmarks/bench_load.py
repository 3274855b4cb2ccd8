"""Load benchmark: N students editing sentences at the same time against one ``streamlit run app.py``.

    python benchmarks/bench_load.py --sessions 10 25 --duration 60 [--think-seconds 1.0]

For each N a fresh server is started; one headless Chromium opens N browser contexts (each its own
Streamlit session on its own websocket). After every session shows its first heatmap, all of them edit
for ``--duration`` seconds: type a sentence, press Enter, wait until the heatmap has the new sentence's
size and the run has finished (the update latency), pause ``--think-seconds``, repeat. Loops are bounded
by the duration and by ``--max-edits`` per session.

Measured: errors (update timeouts, exception elements, page errors), p50/p95/max update latency, the
server's RSS (MB) and CPU (% of one core, from /proc/<pid>/stat) sampled every 0.5 s, and the machine's
total CPU busy % (the browser runs on the same machine, and so does anything else running meanwhile).
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_common import (  # after the sys.path tweak: the sibling module
    CHROMIUM_ARGS,
    CHROMIUM_PATH,
    EXCEPTION_SELECTOR,
    HEATMAP_HAS_SIZE_JS,
    HEATMAP_SIZE_JS,
    LOG_DIRECTORY,
    REPOSITORY_ROOT,
    TEXT_INPUT_SELECTOR,
    app_version,
    machine_cpu_times,
    machine_description,
    process_cpu_seconds,
    process_rss_megabytes,
    sentence_stream,
    start_server,
    stop_server,
    summary,
    timestamped_result_path,
    wait_for_health,
)

UPDATE_TIMEOUT_MS = 30_000
FIRST_LOAD_TIMEOUT_MS = 180_000
SAMPLE_INTERVAL_SECONDS = 0.5


class ServerSampler:
    """Samples the server's RSS and CPU, and the machine's CPU, every ``SAMPLE_INTERVAL_SECONDS``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss_mb: list[float] = []
        self.cpu_percent: list[float] = []       # of one core; 200 % = both cores of a 2-core machine
        self.machine_busy_percent: list[float] = []
        self._running = True

    async def run(self) -> None:
        previous_cpu, previous_time = process_cpu_seconds(self.pid), time.perf_counter()
        previous_busy, previous_total = machine_cpu_times()
        while self._running:
            await asyncio.sleep(SAMPLE_INTERVAL_SECONDS)
            cpu, now = process_cpu_seconds(self.pid), time.perf_counter()
            busy, total = machine_cpu_times()
            self.cpu_percent.append(100 * (cpu - previous_cpu) / (now - previous_time))
            self.machine_busy_percent.append(100 * (busy - previous_busy) / max(1, total - previous_total))
            self.rss_mb.append(process_rss_megabytes(self.pid))
            previous_cpu, previous_time, previous_busy, previous_total = cpu, now, busy, total

    def stop(self) -> None:
        self._running = False

    def report(self) -> dict:
        def mean(values):
            return round(sum(values) / len(values), 1) if values else None

        return {"rss_mb_peak": round(max(self.rss_mb), 1) if self.rss_mb else None,
                "rss_mb_end": round(self.rss_mb[-1], 1) if self.rss_mb else None,
                "server_cpu_percent_of_one_core_mean": mean(self.cpu_percent),
                "server_cpu_percent_of_one_core_peak": round(max(self.cpu_percent), 1) if self.cpu_percent else None,
                "machine_cpu_busy_percent_mean": mean(self.machine_busy_percent),
                "samples": len(self.rss_mb)}


async def open_session(browser, base_url: str, errors: list[str]):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    started = time.perf_counter()
    await page.goto(base_url + "/", wait_until="domcontentloaded", timeout=FIRST_LOAD_TIMEOUT_MS)
    await page.wait_for_function(HEATMAP_HAS_SIZE_JS, arg=[None], timeout=FIRST_LOAD_TIMEOUT_MS)
    return context, page, time.perf_counter() - started


async def edit_loop(page, seed: int, deadline: float, think_seconds: float, max_edits: int,
                    latencies: list[float], errors: list[str]) -> int:
    current = await page.evaluate(HEATMAP_SIZE_JS)
    sentences = sentence_stream(seed, avoid_length=current["rows"] if current else None)
    field = page.locator(TEXT_INPUT_SELECTOR).first
    edits = 0
    while time.perf_counter() < deadline and edits < max_edits:
        sentence, n_tokens = next(sentences)
        await field.fill(sentence)
        started = time.perf_counter()
        await field.press("Enter")
        try:
            await page.wait_for_function(HEATMAP_HAS_SIZE_JS, arg=[n_tokens], timeout=UPDATE_TIMEOUT_MS, polling=20)
            latencies.append(time.perf_counter() - started)
        except Exception as error:  # a timeout is a measured error; keep the session going
            errors.append(f"session {seed}: update to {n_tokens} tokens: {type(error).__name__}")
            sentences = sentence_stream(seed + 1000 * (edits + 1), avoid_length=None)
        edits += 1
        if await page.locator(EXCEPTION_SELECTOR).count():
            errors.append(f"session {seed}: exception element on the page")
            break
        await asyncio.sleep(think_seconds)
    return edits


async def run_load(sessions: int, duration: float, think_seconds: float, max_edits: int,
                   app_root: Path = REPOSITORY_ROOT) -> dict:
    from playwright.async_api import async_playwright

    latencies: list[float] = []
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True)
        server = start_server(LOG_DIRECTORY / f"bench_load-{sessions}-streamlit.log", app_root)
        try:
            health_seconds = wait_for_health(server)
            rss_idle = process_rss_megabytes(server.process.pid)
            opened = await asyncio.gather(*(open_session(browser, server.base_url, errors) for _ in range(sessions)),
                                          return_exceptions=True)
            pages = [item for item in opened if not isinstance(item, BaseException)]
            errors.extend(f"session failed to open: {type(item).__name__}: {item}"[:300]
                          for item in opened if isinstance(item, BaseException))
            first_load = [seconds for _, _, seconds in pages]
            rss_after_open = process_rss_megabytes(server.process.pid)
            sampler = ServerSampler(server.process.pid)
            sampler_task = asyncio.create_task(sampler.run())
            started = time.perf_counter()
            deadline = started + duration
            edits = await asyncio.gather(*(edit_loop(page, seed, deadline, think_seconds, max_edits, latencies, errors)
                                           for seed, (_, page, _) in enumerate(pages)))
            elapsed = time.perf_counter() - started
            sampler.stop()
            await sampler_task
            for context, _, _ in pages:
                await context.close()
        finally:
            stop_server(server)
            await browser.close()
    return load_run_report(sessions, len(pages), elapsed, think_seconds, health_seconds, first_load, edits,
                           latencies, errors, rss_idle, rss_after_open, sampler)


def load_run_report(sessions: int, sessions_opened: int, elapsed: float, think_seconds: float,
                    health_seconds: float, first_load: list[float], edits: list[int], latencies: list[float],
                    errors: list[str], rss_idle: float, rss_after_open: float, sampler: ServerSampler) -> dict:
    """One run's numbers, in the same shape for the browser and the protocol-level load benchmarks."""
    return {"sessions": sessions, "sessions_opened": sessions_opened, "duration_seconds": round(elapsed, 1),
            "think_seconds": think_seconds, "health_ok_seconds": round(health_seconds, 2),
            "first_load_seconds": summary(first_load), "edits_total": sum(edits),
            "updates_per_second": round(len(latencies) / elapsed, 2), "errors_total": len(errors),
            "errors_sample": errors[:10], "update_latency_seconds": summary(latencies),
            "rss_mb_idle_before_sessions": round(rss_idle, 1), "rss_mb_after_sessions_opened": round(rss_after_open, 1),
            "server": sampler.report()}


def run_benchmark(kind: str, run_load, description: str, argv: list[str] | None = None) -> int:
    """Command line shared by the load benchmarks: ``run_load(sessions, duration, think, max_edits, app_root)``
    is awaited once per session count and the runs go to a timestamped JSON file."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[10, 25])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of editing per run")
    parser.add_argument("--think-seconds", type=float, default=1.0,
                        help="pause after each update before the next edit (a student reading the result)")
    parser.add_argument("--max-edits", type=int, default=1000, help="upper bound on edits per session")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"result file (default: benchmarks/results/{kind}-<UTC time>.json, never overwritten)")
    parser.add_argument("--app-root", type=Path, default=REPOSITORY_ROOT, help="checkout whose app.py to serve")
    arguments = parser.parse_args(argv)
    arguments.output = arguments.output or timestamped_result_path(kind)
    result = {"benchmark": kind, "machine": machine_description(), "app": app_version(arguments.app_root),
              "runs": []}
    for sessions in arguments.sessions:
        run = asyncio.run(run_load(sessions, arguments.duration, arguments.think_seconds, arguments.max_edits,
                                   arguments.app_root))
        result["runs"].append(run)
        print(json.dumps(run, ensure_ascii=False), flush=True)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_benchmark("load", run_load, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
