"""Human studies (``chromalab study``, ``chromalab serve --study``): statistics against scipy and statsmodels,
pairing and planning on real photos, balanced assignment, the participant API (forged and repeated answers
refused), results from the command line, 50 concurrent participants against a real server, and a server killed
with SIGKILL that loses no acknowledged answer."""

from __future__ import annotations

import contextlib
import io
import json
import random
import signal
import sqlite3
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import write_crops
from hypothesis import given, settings
from hypothesis import strategies as st
from live_server import served
from PIL import Image, ImageEnhance

from chromalab.color.srgb8 import rgb_lightness_u8
from chromalab.serve.app import create_app
from chromalab.serve.settings import ServeSettings
from chromalab.study.assignment import participant_trials
from chromalab.study.create import create_study
from chromalab.study.pairing import pair_photos
from chromalab.study.plan import ATTENTION, PRACTICE, RANDOM_COLORS, TRUTH, PlanError, StudyPlan
from chromalab.study.results import CSV_COLUMNS, answer_rows, csv_text, summarise
from chromalab.study.statistics import binomial_test, bootstrap_interval, wilson_interval
from chromalab.study.storage import StudyStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette announces a move of its test client to another package
    from fastapi.testclient import TestClient

METHODS = ("model", "muted")  # the bundled model's colorizations; the truth at 30 % saturation


# ---------------------------------------------------------------- photos, studies, servers


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """12 real 40x40 photos (truth, as PNG in three sub-folders), the bundled model's colorizations of
    their grey versions (PNG) and a muted copy (JPEG: pairing ignores the suffix)."""
    from chromalab import OnnxColorizer

    root = tmp_path_factory.mktemp("study-photos")
    truth = write_crops(root / "truth")
    colorizer = OnnxColorizer.load("default")
    for path in sorted(truth.rglob("*.png")):
        name = path.relative_to(truth)
        for label in METHODS:
            (root / label / name.parent).mkdir(parents=True, exist_ok=True)
        colorizer.colorize(Image.open(path).convert("L")).save(root / "model" / name)
        ImageEnhance.Color(Image.open(path)).enhance(0.3).save(
            (root / "muted" / name).with_suffix(".jpg"), quality=95
        )
    return {TRUTH: truth} | {label: root / label for label in METHODS}


def new_study(folders: dict[str, Path], path: Path, **options: object) -> StudyPlan:
    """A study of both methods (Python API, as the command does), written to ``path``."""
    plan = StudyPlan(
        options.pop("name", "demo"),
        METHODS,
        ("turing", "preference"),
        token="admin-token",
        **{"practice": 2, "trials": 8, "attention": 0.125, "show_ms": 0} | options,
    )
    create_study(path, plan, pair_photos(folders[TRUTH], {label: folders[label] for label in METHODS}))
    return plan


def count_answers(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT count(*) FROM answers").fetchone()[0]


def participant_id(number: int) -> str:
    return f"participant-{number:04d}"


def run_participant(get, post, participant: str, choose=lambda trial: 0) -> list[str]:
    """Answer every trial of ``participant`` with ``choose(trial)`` through the API (``get``/``post`` of an
    HTTP client); the acknowledged trial ids."""
    acknowledged = []
    while not (trial := get("next", {"participant": participant})).get("done"):
        answer = post({"participant": participant, "trial": trial["trial"], "choice": choose(trial)})
        assert answer.status_code == 200, answer.text
        acknowledged.append(trial["trial"])
    return acknowledged


# ---------------------------------------------------------------- statistics


COUNTS = [(k, n) for n in (1, 2, 5, 10, 13, 40, 100, 1000) for k in sorted({0, 1, n // 3, n // 2, n - 1, n})]


def test_wilson_interval_matches_statsmodels() -> None:
    from statsmodels.stats.proportion import proportion_confint

    for successes, trials in COUNTS:
        expected = proportion_confint(successes, trials, alpha=0.05, method="wilson")
        assert wilson_interval(successes, trials) == pytest.approx(expected, abs=1e-12), (successes, trials)
    assert wilson_interval(3, 10, confidence=0.9) == pytest.approx(
        proportion_confint(3, 10, alpha=0.1, method="wilson")
    )
    assert wilson_interval(0, 0) is None


def test_binomial_test_matches_scipy() -> None:
    from scipy.stats import binomtest

    for successes, trials in COUNTS:
        for chance in (0.5, 0.3, 0.87):
            expected = binomtest(successes, trials, chance, alternative="two-sided").pvalue
            assert binomial_test(successes, trials, chance) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert binomial_test(29, 50) == pytest.approx(binomtest(29, 50).pvalue)  # Gustavsson's 58 % of 50 pairs
    assert binomial_test(0, 0) is None


@settings(max_examples=60, deadline=None)
@given(trials=st.integers(1, 400), share=st.floats(0, 1), chance=st.floats(0.01, 0.99))
def test_binomial_test_matches_scipy_anywhere(trials: int, share: float, chance: float) -> None:
    from scipy.stats import binomtest

    successes = round(share * trials)
    assert binomial_test(successes, trials, chance) == pytest.approx(
        binomtest(successes, trials, chance).pvalue, rel=1e-8, abs=1e-12
    )


def test_statistics_refuse_impossible_counts() -> None:
    for call in (
        lambda: wilson_interval(5, 4),
        lambda: binomial_test(-1, 4),
        lambda: binomial_test(1, 4, 1.5),
        lambda: bootstrap_interval(np.zeros(3), np.zeros(4)),
    ):
        with pytest.raises(ValueError):
            call()


def test_bootstrap_is_seeded_and_agrees_with_wilson_when_participants_are_alike() -> None:
    rng = np.random.default_rng(7)
    trials = np.full(40, 40)  # Zhang et al.'s design: 40 participants, 40 pairs each
    fooled = rng.binomial(40, 0.3, size=40)  # every participant fooled at the same rate
    first, again = bootstrap_interval(fooled, trials, seed=1), bootstrap_interval(fooled, trials, seed=1)
    assert first == again and bootstrap_interval(fooled, trials, seed=2) != first
    wilson = wilson_interval(int(fooled.sum()), int(trials.sum()))
    assert np.abs(np.array(first) - np.array(wilson)).max() < 0.02, (first, wilson)
    # participants who differ (half fooled 5 % of the time, half 60 %): answers are not independent, and the
    # bootstrap over participants is much wider than Wilson's interval, which assumes they are
    mixed = np.concatenate([rng.binomial(40, 0.05, size=20), rng.binomial(40, 0.6, size=20)])
    low, high = bootstrap_interval(mixed, trials)
    wilson_low, wilson_high = wilson_interval(int(mixed.sum()), int(trials.sum()))
    assert high - low > 2 * (wilson_high - wilson_low), ((low, high), (wilson_low, wilson_high))
    assert low < mixed.sum() / trials.sum() < high


# ---------------------------------------------------------------- pairing, plan, assignment


def test_pairing_matches_names_across_folders_and_lists_the_rest(tmp_path: Path, photo: np.ndarray) -> None:
    files = {
        "truth": ["a.png", "b.png", "c.png", "sub/e.png"],
        "x": ["a.png", "b.jpg", "d.png", "sub/e.png"],
        "y": ["a.png", "a.jpg", "b.png", "c.png", "sub/e.webp"],
    }
    for folder, names in files.items():
        for name in names:
            (tmp_path / folder / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(photo).save(tmp_path / folder / name)
    pairing = pair_photos(tmp_path / "truth", {"x": tmp_path / "x", "y": tmp_path / "y"})
    assert pairing.names == ["b", "sub/e"]
    assert pairing.methods["x"]["b"].name == "b.jpg" and pairing.methods["y"]["sub/e"].name == "e.webp"
    problems = sorted(line.split(":")[0] for line in pairing.problems)
    assert problems == ["a", "c", "d"], pairing.problems  # a: two files in y; c: not in x; d: no truth
    assert any("a.jpg" in line and "a.png" in line for line in pairing.problems)


def test_plan_rules() -> None:
    good = {"name": "s", "methods": ("a", "b"), "kinds": ("turing", "preference")}
    assert [c.label for c in StudyPlan(**good).conditions] == ["a", "b", "a vs b"]
    for bad in (
        {"name": "no spaces"},
        {"methods": ("a",)},
        {"methods": ("a", "a")},
        {"methods": ("truth", "b")},
        {"kinds": ("turing", "beauty")},
        {"attention": 0.6},
        {"trials": 0},
        {"practice": -1},
        {"show_ms": -5},
    ):
        with pytest.raises(PlanError):
            StudyPlan(**good | bad)
    plan = StudyPlan(**good, practice=10, trials=40, attention=0.1)
    assert (plan.attention_trials, plan.test_trials) == (4, 36)
    assert plan.practice_photo_count(100) == 10 and plan.practice_photo_count(12) == 3
    with pytest.raises(PlanError):
        plan.practice_photo_count(1)  # practice would leave no photo to test
    assert StudyPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


def test_assignment_is_balanced_within_and_across_participants() -> None:
    plan = StudyPlan("s", ("a", "b"), ("turing", "preference"), practice=4, trials=10, attention=0.1)
    photos = [f"photo{i:02d}" for i in range(12)]
    earlier: list = []
    for number in range(24):
        trials = participant_trials(plan, ["p1", "p2"], photos, earlier, random.Random(f"0/{number}"))
        practice, counted = trials[: plan.practice], trials[plan.practice :]
        assert {t.condition.kind for t in practice} == {PRACTICE} and {t.photo for t in practice} == {
            "p1",
            "p2",
        }
        assert len(counted) == plan.trials and not {t.photo for t in counted} & {"p1", "p2"}
        assert len({t.photo for t in counted}) == plan.trials  # no photo twice while there are enough
        per_condition = Counter(t.condition for t in counted if t.condition.kind != ATTENTION)
        assert sorted(per_condition.values()) == [3, 3, 3]  # 9 tests, 3 conditions
        assert sum(t.condition.kind == ATTENTION for t in counted) == 1
        for condition in per_condition:
            first_left = [t.sides[0] == condition.first for t in counted if t.condition == condition]
            # 3 trials: the first source left once or twice, never 0 or 3 times
            assert sum(first_left) in (
                1,
                2,
            )
        earlier += [(t.condition, t.photo) for t in counted]
    cells = Counter(pair for pair in earlier if pair[0].kind != ATTENTION)
    counts = [cells[(condition, photo)] for condition in plan.conditions for photo in photos]
    assert max(counts) - min(counts) <= 2 and sum(counts) == 24 * 9, sorted(counts)  # 6 each on average
    again = participant_trials(plan, ["p1", "p2"], photos, [], random.Random("0/0"))
    assert again == participant_trials(plan, ["p1", "p2"], photos, [], random.Random("0/0"))  # seeded


# ---------------------------------------------------------------- creating a study


def test_create_stores_every_picture_at_256_and_random_colors_keep_the_lightness(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    from skimage.color import rgb2lab

    plan = new_study(folders, tmp_path / "s.sqlite")
    with contextlib.closing(sqlite3.connect(tmp_path / "s.sqlite")) as db:
        practice = [name for (name,) in db.execute("SELECT name FROM photos WHERE practice")]
        rows = db.execute("SELECT photo, source, width, height, jpeg FROM pictures").fetchall()
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # one photo in five (3), at most --practice (2)
    assert len(practice) == plan.practice_photo_count(12) == 2
    pictures = {
        (photo, source): np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        for photo, source, *_, data in rows
    }
    assert {source for _, source in pictures} == {TRUTH, *METHODS, RANDOM_COLORS}
    assert len(pictures) == 12 * 3 + 10  # every photo thrice, and a random-colours picture of each test photo
    assert all(max(w, h) == 256 and (w, h) == (256, 256) for _, _, w, h, _ in rows)  # the crops are square
    truth = np.asarray(
        Image.open(folders[TRUTH] / "photo1" / "crop2.png").resize((256, 256), Image.Resampling.LANCZOS)
    )
    assert np.abs(pictures[("photo1/crop2", TRUTH)].astype(int) - truth).mean() < 2  # JPEG at quality 95
    for (photo, source), rgb in pictures.items():
        if source == RANDOM_COLORS:
            real = pictures[(photo, TRUTH)]
            assert np.abs(rgb_lightness_u8(rgb) - rgb_lightness_u8(real)).mean() < 3  # the same lightness
            lab, real_lab = rgb2lab(rgb), rgb2lab(real)
            shift = np.linalg.norm(lab[..., 1:] - real_lab[..., 1:], axis=-1)  # (h, w) ab distance
            visible = (real_lab[..., 0] > 25) & (real_lab[..., 0] < 95)  # near black or white no colour shows
            # obviously other colours
            assert np.median(shift[visible]) > 25, (
                photo,
                np.median(shift[visible]),
            )


# ---------------------------------------------------------------- the participant's API, in process


@pytest.fixture(scope="module")
def client(
    folders: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Path]]:
    path = tmp_path_factory.mktemp("api") / "demo.sqlite"
    new_study(folders, path, practice=3, trials=8, attention=0.25)
    with TestClient(create_app(ServeSettings(studies=(path,))), base_url="http://localhost") as test_client:
        yield test_client, path


def api(client: TestClient):
    """(get, post) of the demo study's API for ``run_participant``."""
    return (
        lambda what, params: client.get(f"/api/study/demo/{what}", params=params).json(),
        lambda body: client.post("/api/study/demo/answer", json=body),
    )


def trial_rows(path: Path, participant: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(
            "SELECT id, kind, photo, first, second, first_side FROM trials WHERE participant = ? "
            "ORDER BY position",
            (participant,),
        ).fetchall()


def test_a_participant_goes_through_practice_with_feedback_then_the_trials(client) -> None:
    test_client, path = client
    participant = participant_id(1)
    first = test_client.get("/api/study/demo/next", params={"participant": participant}).json()
    assert first["practice"] and first["position"] == 1 and first["total"] == 3 + 8
    # resumes
    assert test_client.get("/api/study/demo/next", params={"participant": participant}).json() == first
    rows = {row[0]: row for row in trial_rows(path, participant)}
    with contextlib.closing(sqlite3.connect(path)) as db:
        blobs = {
            (photo, source): data
            for photo, source, data in db.execute("SELECT photo, source, jpeg FROM pictures")
        }
    trial = first
    while not trial.get("done"):
        _, kind, photo, first_source, second_source, first_side = rows[trial["trial"]]
        shown = [test_client.get(url) for url in trial["images"]]
        assert all(image.headers["content-type"] == "image/jpeg" for image in shown)
        sources = (first_source, second_source) if first_side == 0 else (second_source, first_source)
        assert [image.content for image in shown] == [blobs[(photo, source)] for source in sources]
        assert not any(source in url for url in trial["images"] for source in (*METHODS, "truth", "random"))
        choice = trial["position"] % 2
        answer = test_client.post(
            "/api/study/demo/answer",
            json={"participant": participant, "trial": trial["trial"], "choice": choice},
        ).json()
        if kind == PRACTICE:  # feedback: where the real photo was, and whether the choice was right
            assert answer == {"recorded": True, "real": first_side, "correct": choice == first_side}
        else:
            assert answer == {"recorded": True}  # no feedback on counted trials
        trial = test_client.get("/api/study/demo/next", params={"participant": participant}).json()
    assert count_answers(path) >= 11 and trial == {"done": True}


def test_forged_repeated_and_out_of_turn_answers_are_refused_and_change_nothing(client) -> None:
    test_client, path = client
    alice, bob = participant_id(2), participant_id(3)
    for who in (alice, bob):
        test_client.get("/api/study/demo/next", params={"participant": who})
    alice_trials, bob_trials = (
        [row[0] for row in trial_rows(path, alice)],
        [row[0] for row in trial_rows(path, bob)],
    )
    ok = test_client.post(
        "/api/study/demo/answer", json={"participant": alice, "trial": alice_trials[0], "choice": 1}
    )
    assert ok.status_code == 200
    before = count_answers(path)
    forged = [
        # repeated (even with another choice)
        (
            {"participant": alice, "trial": alice_trials[0], "choice": 0},
            409,
        ),
        ({"participant": alice, "trial": alice_trials[2], "choice": 0}, 409),  # not her current trial
        ({"participant": alice, "trial": bob_trials[0], "choice": 0}, 403),  # another participant's trial
        ({"participant": bob, "trial": alice_trials[1], "choice": 0}, 403),
        ({"participant": alice, "trial": "made-up-trial", "choice": 0}, 404),
        ({"participant": alice, "trial": alice_trials[1], "choice": 2}, 400),
        ({"participant": alice, "trial": alice_trials[1], "choice": -1}, 400),
        ({"participant": alice, "trial": alice_trials[1], "choice": "1"}, 400),
        ({"participant": alice, "trial": alice_trials[1], "choice": True}, 400),
        ({"participant": alice, "trial": alice_trials[1], "choice": 0.0}, 400),
        ({"participant": alice, "trial": alice_trials[1]}, 400),
        ({"participant": "me", "trial": alice_trials[1], "choice": 0}, 400),  # not a random id
        ({"participant": ["x"], "trial": alice_trials[1], "choice": 0}, 400),
        ({"participant": alice, "trial": 7, "choice": 0}, 400),
    ]
    for body, status in forged:
        answer = test_client.post("/api/study/demo/answer", json=body)
        assert answer.status_code == status and "error" in answer.json(), (
            body,
            answer.status_code,
            answer.text,
        )
    for content in (b"not json", b"[1, 2]", b""):
        answer = test_client.post(
            "/api/study/demo/answer", content=content, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400, (content, answer.text)
    assert test_client.get("/api/study/demo/next", params={"participant": "x"}).status_code == 400
    assert test_client.get("/api/study/elsewhere/next", params={"participant": alice}).status_code == 404
    assert test_client.get(f"/api/study/demo/pictures/{alice_trials[1]}/2").status_code in (404, 422, 400)
    assert test_client.get("/api/study/demo/pictures/made-up/0").status_code == 404
    assert count_answers(path) == before  # nothing changed
    assert (
        test_client.post(
            "/api/study/demo/answer", json={"participant": alice, "trial": alice_trials[1], "choice": 0}
        ).status_code
        == 200
    )


def test_results_page_and_api_need_the_admin_token(client) -> None:
    test_client, _ = client
    get, post = api(test_client)
    run_participant(get, post, participant_id(4), choose=lambda trial: trial["position"] % 2)
    for url in ("/study/demo/results", "/api/study/demo/results", "/api/study/demo/results.csv"):
        assert test_client.get(url).status_code == 403
        assert test_client.get(url, params={"token": "admin-tokeN"}).status_code == 403
    page = test_client.get("/study/demo/results", params={"token": "admin-token"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text.count("<svg") == 4  # model, muted, model vs muted, attention
    summary = test_client.get("/api/study/demo/results", params={"token": "admin-token"}).json()
    assert summary["answers"] > 0 and set(summary["turing"]) == set(METHODS)
    table = test_client.get("/api/study/demo/results.csv", params={"token": "admin-token"}).text.splitlines()
    assert (
        table[0].startswith("participant,position,trial,kind")
        and len(table) == 1 + summary["answers"] + summary["practice_answers"]
    )


# ---------------------------------------------------------------- the command line


def study_args(folders: dict[str, Path], *more: object) -> list[object]:
    return [
        "study",
        "create",
        "demo",
        "--truth",
        folders[TRUTH],
        "--method",
        f"model={folders['model']}",
        "--method",
        f"muted={folders['muted']}",
        *more,
    ]


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert lines and all(line.startswith(("error: ", "warning: ")) for line in lines), stderr
    return lines[-1]


def test_create_prints_the_token_and_refuses_an_existing_file(
    cli, folders: dict[str, Path], tmp_path: Path
) -> None:
    rc, stdout, stderr = cli(
        *study_args(folders, "-o", "s.sqlite", "--trials", "12", "--practice", "2"), cwd=tmp_path
    )
    assert rc == 0, stderr
    with contextlib.closing(StudyStore(tmp_path / "s.sqlite")) as store:
        plan = store.plan
        assert (len(store.practice_photos), len(store.test_photos)) == (2, 10)
    assert plan.methods == METHODS and plan.kinds == ("turing", "preference") and plan.trials == 12
    assert plan.show_ms == 1000 and plan.attention == 0.1 and len(plan.token) >= 20
    assert f"results?token={plan.token}" in stdout and f"admin token:  {plan.token}" in stdout
    assert "warning: 10 test photos for 12 trials" in stderr  # a participant sees photos twice
    created = (tmp_path / "s.sqlite").stat().st_mtime_ns
    rc, _, stderr = cli(*study_args(folders, "-o", "s.sqlite"), cwd=tmp_path)
    assert rc == 2 and "--overwrite" in one_error_line(stderr)
    assert (tmp_path / "s.sqlite").stat().st_mtime_ns == created
    rc, _, stderr = cli(
        *study_args(folders, "-o", "s.sqlite", "--overwrite", "--kinds", "turing"), cwd=tmp_path
    )
    assert rc == 0, stderr
    with contextlib.closing(StudyStore(tmp_path / "s.sqlite")) as store:
        assert store.plan.kinds == ("turing",) and store.plan.token != plan.token


def test_create_lists_missing_pairs_and_skips_them_only_when_asked(
    cli, folders: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(folders["muted"], partial)
    (partial / "photo1" / "crop2.jpg").unlink()
    (partial / "photo0" / "crop0.jpg").write_bytes(b"not a photo")
    args = study_args({**folders, "muted": partial}, "-o", "s.sqlite")
    rc, _, stderr = cli(*args, cwd=tmp_path)
    assert rc == 2 and "--skip-missing" in one_error_line(stderr)
    assert "error: photo1/crop2: no muted file in" in stderr and not (tmp_path / "s.sqlite").exists()
    rc, _, stderr = cli(*args, "--skip-missing", cwd=tmp_path)
    assert rc == 0, stderr
    assert "warning: left out: photo1/crop2" in stderr and "warning: left out: photo0/crop0: muted" in stderr
    with contextlib.closing(StudyStore(tmp_path / "s.sqlite")) as store:
        assert len(store.practice_photos + store.test_photos) == 10


BOTH = ["--method", "model={model}", "--method", "muted={muted}"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "model"], "expected LABEL=DIR"),
        (["--method", "model=nowhere"], "nowhere: no such folder"),
        (["--method", "model=.", "--skip-missing"], "no photo is in every folder"),
        (["--method", "model={model}", "--method", "model={muted}"], "given twice"),
        (["--method", "truth={model}"], "not 'truth'"),
        ([*BOTH, "--kinds", "turing,beauty"], "--kinds"),
        (["--method", "model={model}", "--kinds", "preference"], "two or more --method"),
        ([*BOTH, "--attention", "0.9"], "--attention"),
        ([*BOTH, "--trials", "0"], "--trials"),
        ([*BOTH, "--practice", "-2"], "--practice"),
        ([*BOTH, "--show-ms", "-1"], "--show-ms"),
    ],
)
def test_create_bad_usage_is_one_error_line(
    cli, folders: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    args = [arg.format(model=folders["model"], muted=folders["muted"]) for arg in args]
    rc, _, stderr = cli(
        "study", "create", "demo", "--truth", folders[TRUTH], "-o", "s.sqlite", *args, cwd=tmp_path
    )
    assert rc == 2 and message in one_error_line(stderr), stderr
    assert not (tmp_path / "s.sqlite").exists()


def test_results_count_scripted_participants_and_exclude_the_inattentive(
    cli, folders: dict[str, Path], tmp_path: Path
) -> None:
    """Six careful participants (always fooled by 'model', never by 'muted', always prefer 'model', every
    attention check right) and one who always clicks left: balanced sides give them 2 of 4 checks, below
    the rule's 75 %."""
    path = tmp_path / "s.sqlite"
    new_study(folders, path, trials=20, attention=0.2)
    store = StudyStore(path)
    for number in range(7):
        who = participant_id(number)
        while (trial := store.next_trial(who)) is not None:
            _, kind, _, first, second, first_side = trial_rows(path, who)[trial.position - 1]
            wanted = {"turing": "model" if second == "model" else TRUTH, "preference": "model"}.get(
                kind, TRUTH
            )
            choice = first_side if wanted == first else 1 - first_side
            store.record_answer(who, trial.id, 0 if number == 6 else choice)
    store.close()
    rc, stdout, stderr = cli("study", "results", path, "--json", "r.json", "--csv", "r.csv", cwd=tmp_path)
    assert rc == 0, stderr
    summary = json.loads((tmp_path / "r.json").read_text())

    def counted(kind: str, second: str | None = None, participants: int = 6) -> int:  # answers, by SQL
        with contextlib.closing(sqlite3.connect(path)) as db:
            return db.execute(
                "SELECT count(*) FROM trials t JOIN answers a ON a.trial = t.id JOIN participants p ON "
                "p.id = t.participant WHERE kind = ? AND (? IS NULL OR second = ?) AND p.number < ?",
                (kind, second, second, participants),
            ).fetchone()[0]

    assert summary["answers"] == counted("turing", None, 7) + counted("preference", None, 7) + 7 * 4
    assert summary["participants"] == summary["finished"] == 7 and summary["practice_answers"] == 14
    assert summary["excluded"]["ids"] == [participant_id(6)] and summary["excluded"]["answers"] == 20
    assert "75%" in summary["excluded"]["rule"]
    model, muted = summary["turing"]["model"], summary["turing"]["muted"]
    assert model["fooled"] == model["trials"] == counted("turing", "model") and model["rate"] == 1.0
    assert muted["fooled"] == 0 and muted["trials"] == counted("turing", "muted") and muted["rate"] == 0.0
    pair = summary["preference"]["model vs muted"]
    assert pair["wins"] == pair["trials"] == counted("preference") and pair["participants"] == 6
    from scipy.stats import binomtest
    from statsmodels.stats.proportion import proportion_confint

    assert pair["p_value"] == pytest.approx(binomtest(pair["wins"], pair["trials"]).pvalue)
    assert pair["ci95"] == pytest.approx(
        list(proportion_confint(pair["wins"], pair["trials"], method="wilson"))
    )
    assert summary["attention"] == {
        **summary["attention"],
        "passed": 6 * 4 + 2,
        "trials": 7 * 4,
        "participants": 7,
    }
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert len(rows) == 1 + summary["answers"] + summary["practice_answers"]
    # the excluded participant's answers, practice too
    assert sum(row.endswith(",1") for row in rows[1:]) == 20 + 2
    assert "model" in stdout and "fooled" in stdout and "rule:" in stdout
    with contextlib.closing(StudyStore(path)) as store:  # the command's summary is the library's
        assert summarise(store.plan, store.trials()) == summary
        assert len(answer_rows(store.trials(), set())) == len(rows) - 1


def test_results_of_a_file_that_is_no_study_is_one_error_line(cli, tmp_path: Path) -> None:
    (tmp_path / "notes.sqlite").write_text("not a database at all, just some text that is long enough" * 20)
    for name in ("notes.sqlite", "missing.sqlite"):
        rc, _, stderr = cli("study", "results", name, cwd=tmp_path)
        assert rc == 2 and name in one_error_line(stderr)
    rc, _, stderr = cli("serve", "--study", "notes.sqlite", cwd=tmp_path)
    assert rc == 2 and "not a chromalab study" in one_error_line(stderr)


# ---------------------------------------------------------------- a real server: many participants, SIGKILL


def http_participant(
    url: str,
    participant: str,
    acknowledged: list[str],
    stop: threading.Event | None = None,
    start: threading.Barrier | None = None,
) -> None:
    """One participant's browser, through HTTP: every trial answered (left or right at random) until done or
    ``stop``; each trial id appended to ``acknowledged`` once the server has acknowledged its answer."""
    import httpx

    rng = random.Random(participant)
    with httpx.Client(base_url=url + "/api/study/demo", timeout=60) as client:
        if start is not None:
            start.wait()
        while not (stop is not None and stop.is_set()):
            trial = client.get("/next", params={"participant": participant}).json()
            if trial.get("done"):
                return
            answer = client.post(
                "/answer",
                json={"participant": participant, "trial": trial["trial"], "choice": rng.randrange(2)},
            )
            assert answer.status_code == 200, answer.text
            acknowledged.append(trial["trial"])


def test_fifty_concurrent_participants_lose_no_answer(folders: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    plan = new_study(folders, path, practice=2, trials=8, attention=0.125)
    acknowledged: list[str] = []
    failures: list[BaseException] = []
    start = threading.Barrier(50)

    def participant(number: int) -> None:
        try:
            http_participant(url, participant_id(number), acknowledged, start=start)
        except BaseException as error:  # noqa: BLE001  reported below, with the others
            failures.append(error)

    with served("--study", str(path), log=tmp_path / "serve.log") as (url, _):
        began = time.perf_counter()
        threads = [threading.Thread(target=participant, args=(number,)) for number in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        seconds = time.perf_counter() - began
        stored = count_answers(path)  # while the server still runs: committed means readable
    assert not failures, failures[:3]
    assert len(acknowledged) == 50 * (plan.practice + plan.trials) == stored == len(set(acknowledged))
    with contextlib.closing(sqlite3.connect(path)) as db:
        stored_ids = {trial for (trial,) in db.execute("SELECT trial FROM answers")}
        per_participant = Counter(who for (who,) in db.execute("SELECT participant FROM answers"))
    assert (
        stored_ids == set(acknowledged)
        and set(per_participant.values()) == {10}
        and len(per_participant) == 50
    )
    print(
        f"\n50 participants, {stored} answers acknowledged and stored in {seconds:.1f} s "
        f"({stored / seconds:.0f} answers/s)"
    )


def test_a_server_killed_with_sigkill_keeps_every_acknowledged_answer(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / "s.sqlite"
    new_study(folders, path, practice=2, trials=30, attention=0.1)
    acknowledged: list[str] = []
    stop = threading.Event()

    def participant(number: int) -> None:
        with contextlib.suppress(Exception):  # the server dies under it: the request in flight fails
            http_participant(url, participant_id(number), acknowledged, stop=stop)

    with served("--study", str(path), log=tmp_path / "serve.log") as (url, process):
        threads = [threading.Thread(target=participant, args=(number,)) for number in range(8)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 150 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)  # mid-stream: eight participants are answering
        killed_after = len(acknowledged)
        process.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert killed_after >= 150 and process.returncode == -signal.SIGKILL
    with contextlib.closing(
        sqlite3.connect(path)
    ) as db:  # reopened as the next server would: the WAL is replayed
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {trial for (trial,) in db.execute("SELECT trial FROM answers")}
    lost = set(acknowledged) - stored
    assert not lost, f"{len(lost)} acknowledged answers lost"
    # at most the answers in flight: committed, not yet acknowledged
    assert len(stored) - len(acknowledged) <= 8
    print(f"\nSIGKILL after {len(acknowledged)} acknowledged answers: {len(stored)} stored, none lost")


def test_a_photo_name_a_spreadsheet_would_run_is_kept_as_text_in_the_csv() -> None:
    row = dict.fromkeys(CSV_COLUMNS, "")
    row |= {
        "participant": "-abc12345",
        "photo": '=HYPERLINK("x")',
        "left": "+1",
        "right": "kodim01",
        "choice": 0,
    }
    text = csv_text([row])
    parsed = next(iter(__import__("csv").DictReader(text.splitlines())))
    assert parsed["photo"] == '\'=HYPERLINK("x")' and parsed["left"] == "'+1" and parsed["right"] == "kodim01"
    assert parsed["participant"] == "-abc12345"  # ids are ours, not a file's name: as they are
