"""Print Markdown tables of every browser and load benchmark result in benchmarks/results/ (oldest first).

    python benchmarks/summarize.py            # paste the output into docs/benchmarks.md

One row per run, with the machine's cores and the load average when it started, so runs can be compared.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS_DIRECTORY = Path(__file__).resolve().parent / "results"


def load_results(prefix: str) -> list[dict]:
    results = [json.loads(path.read_text(encoding="utf-8")) for path in RESULTS_DIRECTORY.glob(f"{prefix}-*.json")]
    return sorted(results, key=lambda result: result["machine"]["date_utc"])


def served_commit(result: dict) -> str:
    """The app's commit (``+`` = with uncommitted changes); older results did not record it."""
    app = result.get("app") or {}
    return (app.get("commit", "") + ("+" if app.get("uncommitted_changes") else "")) or "n/r"


def browser_table(results: list[dict]) -> str:
    lines = ["| date (UTC) | app commit | nproc | load avg | health ok (s) | first heatmap (s) | edit p50 (s) "
             "| edit p95 (s) | edits | page switch p50 / p95 (s) | first visits (s) | failures | server RSS (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for result in results:
        machine, cold, edits, switch = (result["machine"], result["cold_start"], result["edits"],
                                        result["page_switch"])
        first = ", ".join(f"{name} {seconds:.1f}" for name, seconds in switch["first_visit_seconds"].items())
        failures = len(edits["failures"]) + len(switch["failures"])
        lines.append(
            f"| {machine['date_utc'][:16].replace('T', ' ')} | {served_commit(result)} | {machine['nproc']} "
            f"| {machine['load_average_1min_at_start']} | {cold['health_ok_seconds']:.1f} "
            f"| {cold['first_heatmap_seconds']:.1f} | {edits['latency_seconds']['p50']:.2f} "
            f"| {edits['latency_seconds']['p95']:.2f} | {edits['latency_seconds']['count']} "
            f"| {switch['repeat_visit_seconds']['p50']:.2f} / {switch['repeat_visit_seconds']['p95']:.2f} "
            f"| {first} | {failures} | {result['server_rss_mb_after']:.0f} |")
    return "\n".join(lines)


def load_table(results: list[dict]) -> str:
    lines = ["| date (UTC) | app commit | nproc | load avg | sessions | think (s) | duration (s) | updates | errors "
             "| p50 (s) | p95 (s) | max (s) | first load p50 / max (s) | server RSS idle → peak (MB) "
             "| server CPU mean / peak (% of 1 core) | machine CPU busy (%) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for result in results:
        machine = result["machine"]
        for run in result["runs"]:
            latency, server, first = run["update_latency_seconds"], run["server"], run["first_load_seconds"]
            lines.append(
                f"| {machine['date_utc'][:16].replace('T', ' ')} | {served_commit(result)} | {machine['nproc']} "
                f"| {machine['load_average_1min_at_start']} | {run['sessions']} | {run['think_seconds']} "
                f"| {run['duration_seconds']} | {latency['count']} | {run['errors_total']} | {latency['p50']:.2f} "
                f"| {latency['p95']:.2f} | {latency['max']:.2f} | {first['p50']:.1f} / {first['max']:.1f} "
                f"| {run['rss_mb_idle_before_sessions']:.0f} → {server['rss_mb_peak']:.0f} "
                f"| {server['server_cpu_percent_of_one_core_mean']:.0f} / "
                f"{server['server_cpu_percent_of_one_core_peak']:.0f} "
                f"| {server['machine_cpu_busy_percent_mean']:.0f} |")
    return "\n".join(lines)


def main() -> int:
    print("### Browser (one student)\n")
    print(browser_table(load_results("browser")))
    print("\n### Load (concurrent sessions)\n")
    print(load_table(load_results("load")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
