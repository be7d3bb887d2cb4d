"""Human studies against forgers and careless users: enrolment costs the same after many participants
(counted in SQLite's own steps, not seconds), new participants per client are rate-limited, the answer's
body is bounded, and outputs in missing folders are one-line errors."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import warnings
from pathlib import Path

import pytest
from test_study import folders, new_study, one_error_line, participant_id  # noqa: F401  (folders: a fixture)

from chromalab.serve.app import create_app
from chromalab.serve.bodies import JSON_BYTES
from chromalab.serve.settings import ServeSettings
from chromalab.study.storage import StudyStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette announces a move of its test client to another package
    from fastapi.testclient import TestClient


def enrolment_steps(store: StudyStore, participant: str) -> int:
    """SQLite virtual-machine steps (in hundreds) of one participant's enrolment."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    store._db.set_progress_handler(count, 100)
    try:
        store.next_trial(participant)
    finally:
        store._db.set_progress_handler(None, 100)
    return steps[0]


def test_enrolment_does_not_grow_with_the_participants(folders: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "s.sqlite"
    new_study(folders, path)
    with contextlib.closing(StudyStore(path)) as store:
        for number in range(10):
            store.next_trial(participant_id(number))
        early = enrolment_steps(store, participant_id(10))
        for number in range(11, 300):
            store.next_trial(participant_id(number))
        late = enrolment_steps(store, participant_id(300))
        assert late <= early * 1.5 + 5, (early, late)  # reading every earlier trial: ~30 times as many
    with contextlib.closing(sqlite3.connect(path)) as db:  # a file made before the balance table: filled once
        expected = sorted(
            db.execute(
                "SELECT kind, first, second, photo, count(*) FROM trials WHERE kind != 'practice' "
                "GROUP BY kind, first, second, photo"
            ).fetchall()
        )
        with db:
            db.execute("DROP TABLE balance")
            db.execute("DELETE FROM meta WHERE key = 'balance'")
    with contextlib.closing(StudyStore(path)) as store:
        store.next_trial(participant_id(301))
        given = [
            row[3:]
            for row in store._db.execute(
                "SELECT t.kind, t.first, t.second, t.kind, t.first, t.second, t.photo FROM trials t "
                "WHERE t.participant = ? AND t.kind != 'practice'",
                (participant_id(301),),
            )
        ]
        balance = sorted(
            store._db.execute("SELECT kind, first, second, photo, trials FROM balance").fetchall()
        )
    counts = {row[:4]: row[4] for row in expected}
    for row in given:
        counts[row] = counts.get(row, 0) + 1
    assert balance == sorted((*key, value) for key, value in counts.items())


@pytest.fixture
def study_client(folders: dict[str, Path], tmp_path: Path):  # noqa: F811
    path = tmp_path / "demo.sqlite"
    new_study(folders, path)
    with TestClient(create_app(ServeSettings(studies=(path,))), base_url="http://localhost") as client:
        yield client


def test_new_participants_per_client_are_rate_limited(study_client: TestClient) -> None:
    burst = study_client.app.state.server.newcomers.burst
    for _ in range(2 * burst):  # malformed ids: refused, and they take no newcomer's place
        assert study_client.get("/api/study/demo/next", params={"participant": "bad!"}).status_code == 400
    for number in range(burst):
        assert (
            study_client.get(
                "/api/study/demo/next", params={"participant": participant_id(number)}
            ).status_code
            == 200
        )
    refused = study_client.get("/api/study/demo/next", params={"participant": participant_id(burst)})
    assert refused.status_code == 429 and "too many new participants" in refused.json()["error"]
    # enrolled: served
    again = study_client.get("/api/study/demo/next", params={"participant": participant_id(0)})
    assert again.status_code == 200 and "trial" in again.json()


def test_the_answer_body_is_bounded_and_parsed_safely(study_client: TestClient) -> None:
    route = "/api/study/demo/answer"
    large = json.dumps({"participant": participant_id(1), "trial": "x" * (2 * JSON_BYTES), "choice": 0})
    for body, status, words in (
        (large.encode(), 413, "limit"),
        (b"[" * 5000, 400, "nested too deeply"),
        (b"{", 400, "not JSON"),
        (b"[1, 2]", 400, "expected"),
        (b'{"participant": "p", "trial": "t", "choice": 0}', 400, "participant"),
    ):
        answer = study_client.post(route, content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == status and words in answer.json()["error"], answer.text


def test_outputs_in_missing_folders_are_one_error_line(cli, folders: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    methods = [arg for label in ("model", "muted") for arg in ("--method", f"{label}={folders[label]}")]
    rc, _, stderr = cli(
        "study",
        "create",
        "demo",
        "--truth",
        folders["truth"],
        *methods,
        "-o",
        "missing/dir/x.sqlite",
        cwd=tmp_path,
    )
    assert rc == 2 and "no such folder" in one_error_line(stderr), stderr
    new_study(folders, tmp_path / "s.sqlite")
    rc, _, stderr = cli("study", "results", "s.sqlite", "--json", "missing/dir/r.json", cwd=tmp_path)
    assert rc == 2 and "no such folder" in one_error_line(stderr), stderr
    assert not (tmp_path / "missing").exists()
