"""The browser tests can never silently stop running: a missing Chromium skips locally but fails in CI."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from benchmarks import browser_common
from tests.e2e import conftest as browser_conftest


def test_missing_chromium_skips_locally_with_the_install_command(monkeypatch):
    monkeypatch.setattr(browser_conftest, "CHROMIUM_PATH", Path("/nonexistent/chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        browser_conftest.require_chromium()


@pytest.mark.parametrize("ci_value", ["true", "TRUE"])
def test_missing_chromium_fails_under_ci(monkeypatch, ci_value):
    monkeypatch.setattr(browser_conftest, "CHROMIUM_PATH", Path("/nonexistent/chromium"))
    monkeypatch.setenv("CI", ci_value)
    with pytest.raises(pytest.fail.Exception, match="CI=true but /nonexistent/chromium is missing"):
        browser_conftest.require_chromium()


def test_present_chromium_is_returned(monkeypatch, tmp_path):
    fake_browser = tmp_path / "chromium"
    fake_browser.write_text("#!/bin/sh\n")
    monkeypatch.setattr(browser_conftest, "CHROMIUM_PATH", fake_browser)
    monkeypatch.setenv("CI", "true")
    assert browser_conftest.require_chromium() == fake_browser


def test_free_port_is_bindable():
    import socket

    port = browser_common.free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", port))


def test_stopping_the_server_also_stops_its_children():
    """Stopping signals the whole process group (the app may have started helpers)."""
    import subprocess

    parent = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], start_new_session=True)
    children = subprocess.run(["sh", "-c", f"sleep 0.3; pgrep -P {parent.pid}"], capture_output=True, text=True)
    child_pids = [int(pid) for pid in children.stdout.split()]
    browser_common.stop_process_group(parent)
    assert parent.returncode is not None
    deadline = time.monotonic() + 10  # the children got SIGTERM with the group; on a busy machine they take a moment
    while time.monotonic() < deadline and any(is_running_sleep(pid) for pid in child_pids):
        time.sleep(0.1)
    assert child_pids and not any(is_running_sleep(pid) for pid in child_pids)


def is_running_sleep(pid: int) -> bool:
    """True while ``pid`` is still our ``sleep`` child (not exited, not a zombie, not a reused pid)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and command.startswith(b"sleep")
