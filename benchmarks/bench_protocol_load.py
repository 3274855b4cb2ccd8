"""Server-only load benchmark: N Streamlit sessions over the websocket protocol, no browser.

    python benchmarks/bench_protocol_load.py --sessions 10 25 --duration 60 [--think-seconds 1.0]

Complements ``bench_load.py``, whose headless Chromium tabs share the server's cores and dominate the CPU.
Here each session is a plain websocket client speaking Streamlit's own protocol, as the browser does:

- connect to ``ws://127.0.0.1:PORT/_stcore/stream`` with subprotocol ``streamlit`` (Streamlit 1.67,
  ``streamlit/web/server/starlette/starlette_websocket.py``; the XSRF token in the subprotocol list is only
  needed for auth cookies, which this app does not use);
- send ``BackMsg.rerun_script`` (a ``ClientState`` with query string, page script hash and widget states)
  and read ``ForwardMsg``s until ``script_finished``;
- on the first run, find the Explore page's text input (label contains "Your sentence") in the deltas;
- then loop for ``--duration`` seconds: put a new sentence into the widget state (``string_value``), rerun,
  and stop the clock when the run has finished successfully AND a ``plotly_chart`` delta of that run holds
  a heatmap with k rows and k columns for the k-token sentence (the update latency); pause
  ``--think-seconds``; repeat. Loops are bounded by the duration and by ``--max-edits`` per session.

No ``cached_message_hashes`` are sent, so the server always sends whole messages (never ``ref_hash``).
Measured: errors (timeouts, exception elements, unexpected script_finished statuses, closed sockets),
p50/p95/max update latency, the server's RSS (MB) and CPU (% of one core), this client process's CPU (it
runs on the same machine), and the machine's total CPU busy %. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import ServerSampler, load_run_report, run_benchmark  # after the sys.path tweak: siblings
from browser_common import (
    LOG_DIRECTORY,
    REPOSITORY_ROOT,
    process_cpu_seconds,
    process_rss_megabytes,
    sentence_stream,
    start_server,
    stop_server,
    wait_for_health,
)

UPDATE_TIMEOUT_SECONDS = 30.0
FIRST_LOAD_TIMEOUT_SECONDS = 180.0
MAX_FRAME_BYTES = 64 * 1024 * 1024   # a Plotly spec can be large; bounded all the same
TEXT_INPUT_LABEL = "Your sentence"
STREAM_PATH = "/_stcore/stream"


def heatmap_rows(spec_json: str) -> int | None:
    """Rows of the first heatmap trace in a Plotly figure JSON (``z`` as nested lists or Plotly ≥ 6
    ``{"dtype", "bdata", "shape"}``); None when the figure has no heatmap."""
    figure = json.loads(spec_json)
    for trace in figure.get("data", []):
        if trace.get("type") != "heatmap" or "z" not in trace:
            continue
        z = trace["z"]
        if isinstance(z, dict):  # typed array: the shape says "rows, columns"
            shape = [int(part) for part in str(z.get("shape", "")).split(",") if part.strip()]
            if len(shape) == 2 and shape[0] == shape[1]:
                return shape[0]
            return None
        if z and all(len(row) == len(z) for row in z):
            return len(z)
        return None
    return None


class ProtocolSession:
    """One Streamlit session driven like a browser would: a websocket and the widget state it sends."""

    def __init__(self, base_url: str, index: int) -> None:
        self.url = base_url.replace("http://", "ws://") + STREAM_PATH
        self.index = index
        self.websocket = None
        self.text_widget_id: str | None = None

    async def connect(self) -> None:
        import websockets

        self.websocket = await websockets.connect(self.url, subprotocols=["streamlit"], max_size=MAX_FRAME_BYTES,
                                                  open_timeout=FIRST_LOAD_TIMEOUT_SECONDS)

    async def rerun(self, sentence: str | None, wanted_rows: int | None, timeout: float) -> int | None:
        """Send one rerun and read until it finished with a heatmap (of ``wanted_rows`` rows when given).

        Returns the heatmap's row count; raises RuntimeError/TimeoutError on failures."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        message = BackMsg()
        client_state = message.rerun_script
        client_state.query_string = ""
        client_state.page_script_hash = ""   # the main page (app.py = Explore)
        if sentence is not None:
            widget = client_state.widget_states.widgets.add()
            widget.id = self.text_widget_id
            widget.string_value = sentence
        await self.websocket.send(message.SerializeToString())

        deadline = time.perf_counter() + timeout
        rows_seen: int | None = None
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"no finished run with a {wanted_rows}-row heatmap within {timeout} s")
            frame = await asyncio.wait_for(self.websocket.recv(), remaining)
            forward = ForwardMsg()
            forward.ParseFromString(frame)
            kind = forward.WhichOneof("type")
            if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                element = forward.delta.new_element
                element_kind = element.WhichOneof("type")
                if element_kind == "text_input" and TEXT_INPUT_LABEL in element.text_input.label:
                    self.text_widget_id = element.text_input.id
                elif element_kind == "plotly_chart" and element.plotly_chart.spec:
                    rows = heatmap_rows(element.plotly_chart.spec)
                    if rows is not None and rows_seen is None:
                        rows_seen = rows
                elif element_kind == "exception":
                    raise RuntimeError(f"exception element: {element.exception.message[:200]}")
            elif kind == "script_finished":
                status = forward.script_finished
                if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue  # an older run was interrupted; ours is still coming
                if status != ForwardMsg.FINISHED_SUCCESSFULLY:
                    raise RuntimeError(f"script_finished status {status}")
                if rows_seen is None:
                    raise RuntimeError("run finished without a heatmap")
                if wanted_rows is not None and rows_seen != wanted_rows:
                    raise RuntimeError(f"heatmap has {rows_seen} rows, wanted {wanted_rows}")
                return rows_seen

    async def close(self) -> None:
        if self.websocket is not None:
            await self.websocket.close()


async def open_session(base_url: str, index: int) -> tuple[ProtocolSession, float, int]:
    session = ProtocolSession(base_url, index)
    started = time.perf_counter()
    await session.connect()
    rows = await session.rerun(None, None, FIRST_LOAD_TIMEOUT_SECONDS)
    if session.text_widget_id is None:
        raise RuntimeError(f"no text input labelled {TEXT_INPUT_LABEL!r} on the first page")
    return session, time.perf_counter() - started, rows


async def edit_loop(session: ProtocolSession, first_rows: int, deadline: float, think_seconds: float,
                    max_edits: int, latencies: list[float], errors: list[str]) -> int:
    sentences = sentence_stream(session.index, avoid_length=first_rows)
    edits = 0
    while time.perf_counter() < deadline and edits < max_edits:
        sentence, n_tokens = next(sentences)
        started = time.perf_counter()
        try:
            await session.rerun(sentence, n_tokens, UPDATE_TIMEOUT_SECONDS)
            latencies.append(time.perf_counter() - started)
        except Exception as error:  # a failed update is a measured error
            errors.append(f"session {session.index}: update to {n_tokens} tokens: "
                          f"{type(error).__name__}: {error}"[:300])
            if type(error).__name__.startswith("ConnectionClosed"):
                break
        edits += 1
        await asyncio.sleep(think_seconds)
    return edits


async def run_load(sessions: int, duration: float, think_seconds: float, max_edits: int,
                   app_root: Path = REPOSITORY_ROOT) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    opened_sessions: list[ProtocolSession] = []
    server = start_server(LOG_DIRECTORY / f"bench_protocol_load-{sessions}-streamlit.log", app_root)
    try:
        health_seconds = wait_for_health(server)
        rss_idle = process_rss_megabytes(server.process.pid)
        opened = await asyncio.gather(*(open_session(server.base_url, index) for index in range(sessions)),
                                      return_exceptions=True)
        ready = [item for item in opened if not isinstance(item, BaseException)]
        opened_sessions = [session for session, _, _ in ready]
        errors.extend(f"session failed to open: {type(item).__name__}: {item}"[:300]
                      for item in opened if isinstance(item, BaseException))
        first_load = [seconds for _, seconds, _ in ready]
        rss_after_open = process_rss_megabytes(server.process.pid)
        sampler = ServerSampler(server.process.pid)
        sampler_task = asyncio.create_task(sampler.run())
        client_cpu_before = process_cpu_seconds(os.getpid())
        started = time.perf_counter()
        deadline = started + duration
        edits = await asyncio.gather(*(edit_loop(session, rows, deadline, think_seconds, max_edits, latencies, errors)
                                       for session, _, rows in ready))
        elapsed = time.perf_counter() - started
        client_cpu_percent = 100 * (process_cpu_seconds(os.getpid()) - client_cpu_before) / elapsed
        sampler.stop()
        await sampler_task
    finally:
        for session in opened_sessions:
            try:
                await session.close()
            except Exception:  # the server may already be gone; closing is best effort
                pass
        stop_server(server)
    report = load_run_report(sessions, len(ready), elapsed, think_seconds, health_seconds, first_load, edits,
                             latencies, errors, rss_idle, rss_after_open, sampler)
    report["benchmark_client_cpu_percent_of_one_core_mean"] = round(client_cpu_percent, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    return run_benchmark("protocol-load", run_load, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
