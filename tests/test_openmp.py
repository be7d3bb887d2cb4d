"""``colorize.openmp``: idle OpenMP threads spin briefly on an idle machine, sleep at once on a busy one, and
a user's own setting wins (the load average is set by the test, the environment restored by monkeypatch)."""

from __future__ import annotations

import pytest

from chromalab.colorize import openmp


@pytest.mark.parametrize(
    ("load", "variable", "value"),
    [(0.2, "GOMP_SPINCOUNT", openmp.IDLE_SPIN_COUNT), (1.7, "OMP_WAIT_POLICY", "PASSIVE")],
)
def test_openmp_threads_spin_briefly_only_on_an_idle_machine(
    monkeypatch: pytest.MonkeyPatch, load: float, variable: str, value: str
) -> None:
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(openmp.os, "getloadavg", lambda: (load, load, load))
    openmp.polite_openmp()
    assert openmp.os.environ.get(variable) == value
    assert len({"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(openmp.os.environ)) == 1  # one choice, not both


def test_a_users_own_openmp_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setattr(openmp.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert openmp.polite_openmp() == "as set in the environment"
    assert openmp.os.environ["OMP_WAIT_POLICY"] == "ACTIVE" and "GOMP_SPINCOUNT" not in openmp.os.environ
