"""How a real ``chromalab serve`` stops: SIGTERM (docker stop, systemd) as Ctrl-C does, gracefully and with
exit 0, never the console script's "error: terminated" line that a one-shot command gives."""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

import pytest
from live_server import served


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_server_cleanly(stop: signal.Signals, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with served(log=log) as (url, process):
        process.send_signal(stop)
        assert process.wait(timeout=30) == 0, log.read_text()
        with pytest.raises(OSError):  # closed, not merely answering slowly
            urllib.request.urlopen(url + "/api/health", timeout=5)
    assert "error" not in log.read_text().lower(), log.read_text()
