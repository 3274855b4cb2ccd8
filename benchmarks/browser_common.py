"""Shared pieces of the browser benchmarks: start/stop the app, sentences, /proc sampling, summaries.

Everything talks to 127.0.0.1 only. Nothing here imports TensorFlow: the benchmark process stays small so
that the numbers are about the server and the browser.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIRECTORY = REPOSITORY_ROOT / "benchmarks" / "results"   # committed JSON results
LOG_DIRECTORY = REPOSITORY_ROOT / "test-artifacts"                # server logs (gitignored)
CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
APP_IDLE_SELECTOR = "[data-testid=stApp][data-test-script-state=notRunning]"
TEXT_INPUT_SELECTOR = "[data-testid=stMain] [data-testid=stTextInput] input"
EXCEPTION_SELECTOR = "[data-testid=stException]"

# Plain lowercase words without punctuation: each sentence of k words is exactly k tokens for the model,
# so "the heatmap has k rows and k columns" tells the benchmark the new sentence has been drawn.
REVIEW_WORDS = ("the film was good bad great boring funny slow long short and but not very really quite story "
                "acting music plot characters ending I loved hated enjoyed it this movie a an of in with too "
                "beautiful dull brilliant awful clever predictable moving").split()
SHORTEST_SENTENCE, LONGEST_SENTENCE = 3, 24

# JavaScript: the first attention heatmap Plotly drew, as {rows, columns}; null when none is drawn yet.
HEATMAP_SIZE_JS = """
() => {
    for (const plot of document.querySelectorAll('.js-plotly-plot')) {
        const traces = (plot._fullData && plot._fullData.length ? plot._fullData : plot.data) || [];
        for (const trace of traces) {
            if (trace.type === 'heatmap' && trace.z && trace.z.length) {
                return {rows: trace.z.length, columns: trace.z[0].length};
            }
        }
    }
    return null;
}
"""
HEATMAP_HAS_SIZE_JS = f"""
([wanted]) => {{
    const size = ({HEATMAP_SIZE_JS})();
    const idle = document.querySelector('{APP_IDLE_SELECTOR}') !== null;
    return idle && size !== null && (wanted === null || (size.rows === wanted && size.columns === wanted));
}}
"""
# Records whether a script run started after it is armed, so "idle again" cannot be the idleness from before.
# A very fast run can go running → notRunning within one React commit, unseen; so a changed page title
# (the main <h1>) also counts as "the new page ran".
ARM_RUN_WATCHER_JS = """
() => {
    window.__attnvizRunSeen = false;
    const heading = document.querySelector('[data-testid=stMain] h1');
    window.__attnvizHeading = heading ? heading.textContent : null;
    if (window.__attnvizObserver) { window.__attnvizObserver.disconnect(); }
    const app = document.querySelector('[data-testid=stApp]');
    window.__attnvizObserver = new MutationObserver(() => {
        if (app.getAttribute('data-test-script-state') === 'running') { window.__attnvizRunSeen = true; }
    });
    window.__attnvizObserver.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}
"""
RUN_FINISHED_JS = f"""
() => {{
    const heading = document.querySelector('[data-testid=stMain] h1');
    const headingChanged = heading !== null && heading.textContent !== window.__attnvizHeading;
    return (window.__attnvizRunSeen === true || headingChanged)
        && document.querySelector('{APP_IDLE_SELECTOR}') !== null;
}}
"""


def sentence_stream(seed: int, avoid_length: int | None = None):
    """Endless distinct sentences; consecutive ones always differ in length (so updates are detectable)."""
    generator = random.Random(seed)
    previous_length = avoid_length
    counter = 0
    while True:
        length = generator.randint(SHORTEST_SENTENCE, LONGEST_SENTENCE)
        if length == previous_length:
            continue
        previous_length = length
        counter += 1
        yield " ".join(generator.choice(REVIEW_WORDS) for _ in range(length)), length


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    started_at: float  # time.perf_counter() just before Popen
    log_path: Path


def start_server(log_path: Path, app_root: Path = REPOSITORY_ROOT,
                 extra_environment: dict[str, str] | None = None) -> Server:
    """``streamlit run app.py`` in ``app_root`` (e.g. a ``git worktree`` of an older commit, to compare) on a
    free localhost port, in its own process group (so stopping it also stops anything it spawned).
    Shared by the benchmarks and the browser test fixtures."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # closed in stop_server
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(extra_environment or {})}
    started_at = time.perf_counter()
    process = subprocess.Popen(command, cwd=app_root, env=environment, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    process.log_file = log  # type: ignore[attr-defined]
    return Server(process, f"http://127.0.0.1:{port}", started_at, log_path)


def wait_for_health(server: Server, timeout: float = 120.0) -> float:
    """Seconds from process start until ``/_stcore/health`` answers ``ok``."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.process.returncode}; see {server.log_path}")
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            with urllib.request.urlopen(f"{server.base_url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return time.perf_counter() - server.started_at
        time.sleep(0.05)
    raise TimeoutError(f"no healthy server within {timeout} s")


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the process's whole group, then SIGKILL it if it has not exited within 10 s; close its log."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    log = getattr(process, "log_file", None)
    if log is not None:
        log.close()


def stop_server(server: Server) -> None:
    stop_process_group(server.process)


# ----- /proc sampling ----------------------------------------------------------------------------------
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_SECOND  # utime, stime (fields 14, 15)


def process_rss_megabytes(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine_cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, for the load other programs put on it meanwhile."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


# ----- numbers -----------------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation): the value below which ``fraction`` of samples fall."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float | int]:
    return {"count": len(values), "p50": round(percentile(values, 0.50), 3), "p95": round(percentile(values, 0.95), 3),
            "max": round(max(values), 3) if values else float("nan"),
            "mean": round(sum(values) / len(values), 3) if values else float("nan")}


def machine_description() -> dict[str, str | int]:
    model_name = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
                break
    memory_gb = ""
    with contextlib.suppress(OSError):
        memory_gb = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    return {"nproc": os.cpu_count() or 0, "cpu": model_name, "memory_gb": memory_gb,
            "python": platform.python_version(), "platform": platform.platform(),
            "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "load_average_1min_at_start": round(os.getloadavg()[0], 2)}


def app_version(app_root: Path) -> dict[str, str | bool]:
    """The commit being served and whether its working tree has uncommitted changes (benchmarks of a moving
    target must say so)."""
    def git(*arguments: str) -> str:
        completed = subprocess.run(["git", *arguments], cwd=app_root, capture_output=True, text=True, check=False)
        return completed.stdout.strip()

    changes = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_changes": bool(changes)}


def timestamped_result_path(kind: str) -> Path:
    """benchmarks/results/KIND-YYYY-MM-DDTHHMMZ.json: one file per run, so earlier results stay comparable."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%MZ")
    return RESULTS_DIRECTORY / f"{kind}-{stamp}.json"
