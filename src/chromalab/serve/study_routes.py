"""The routes of the human studies (``chromalab serve --study FILE``); ``app.create_app`` mounts them.

Participant (no personal data: a random id the page keeps in the browser): ``GET /study/NAME`` (the page),
``GET /api/study/NAME`` (what the instructions need), ``GET /api/study/NAME/next?participant=P`` ->
``{"trial", "images": [url, url], "question", ...}`` or ``{"done": true}`` (a new participant id is
enrolled: at most ``Newcomers`` per client, else 429), ``POST /api/study/NAME/answer`` ``{"participant",
"trial", "choice": 0|1}`` (at most ``bodies.JSON_BYTES``; acknowledged after its commit; refused with 400
malformed, 403 another participant's trial, 404 unknown trial, 409 repeated or out of turn), ``GET
/api/study/NAME/pictures/TRIAL/SIDE`` (a picture; the address says nothing of its source). Admin, with the
study's token (``?token=``): ``GET /study/NAME/results`` (the page), ``GET /api/study/NAME/results`` (the
summary of ``chromalab study results``) and ``GET /api/study/NAME/results.csv`` (one row per answer).

The handlers are plain functions: FastAPI runs them in its thread pool, so a commit never blocks the event
loop (the answer's handler reads its body on the loop, then commits in the same thread pool).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from chromalab.files import parse_json
from chromalab.serve.bodies import JSON_BYTES, read_body
from chromalab.serve.server import STATIC, ApiError, pace
from chromalab.serve.study_page import results_page
from chromalab.study.plan import PRACTICE
from chromalab.study.results import answer_rows, csv_text, summarise
from chromalab.study.stimuli import DISPLAY_SIDE
from chromalab.study.storage import (
    BadAnswer,
    NotNow,
    NotYourTrial,
    StudyStore,
    UnknownTrial,
    check_participant,
)

router = APIRouter()
REFUSALS = {BadAnswer: 400, NotYourTrial: 403, UnknownTrial: 404, NotNow: 409}
T = TypeVar("T")


def _study(request: Request, name: str) -> StudyStore:
    try:
        return request.app.state.server.studies[name]
    except KeyError:
        raise ApiError(404, f"no study {name!r} on this server") from None


def _refusing(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)``, a refused answer or participant turned into its HTTP status."""
    try:
        return call(*args)
    except tuple(REFUSALS) as refused:
        raise ApiError(REFUSALS[type(refused)], str(refused)) from None


def _admin(request: Request, name: str, token: str) -> StudyStore:
    """The study, if ``token`` is its admin token (403 otherwise)."""
    store = _study(request, name)
    if not secrets.compare_digest(token.encode(), store.plan.token.encode()):
        raise ApiError(
            403, "the results need this study's admin token (?token=..., printed by 'chromalab study create')"
        )
    return store


@router.get("/study/{name}", include_in_schema=False)
def study_page(request: Request, name: str) -> FileResponse:
    _study(request, name)
    return FileResponse(STATIC / "study.html", media_type="text/html")


@router.get("/api/study/{name}")
def about(request: Request, name: str) -> dict[str, object]:
    plan = _study(request, name).plan
    return {
        "name": plan.name,
        "kinds": list(plan.kinds),
        "practice": plan.practice,
        "trials": plan.trials,
        "show_ms": plan.show_ms,
        "side": DISPLAY_SIDE,
    }


@router.get("/api/study/{name}/next")
def next_trial(request: Request, name: str, participant: str = "") -> dict[str, object]:
    store = _study(request, name)
    _refusing(check_participant, participant)  # a malformed id is a 400 that costs no newcomer's place
    if not store.is_enrolled(participant):
        _admit(request)
    trial = _refusing(store.next_trial, participant)
    if trial is None:
        return {"done": True}
    pictures = f"/api/study/{name}/pictures/{trial.id}"
    return {
        "trial": trial.id,
        "images": [f"{pictures}/0", f"{pictures}/1"],
        "question": trial.question,
        "practice": trial.kind == PRACTICE,
        "position": trial.position,
        "total": trial.total,
        "practice_total": store.plan.practice,
        "show_ms": store.plan.show_ms,
    }


def _admit(request: Request) -> None:
    """429 when this client has enrolled too many new participants lately."""
    client = request.client.host if request.client else "unknown"
    if not request.app.state.server.newcomers.admit(client):
        raise ApiError(429, "too many new participants from this address; try again in a minute")


@router.post("/api/study/{name}/answer")
async def answer(request: Request, name: str) -> dict[str, object]:
    store = _study(request, name)
    body = await read_body(request, max_bytes=JSON_BYTES, pace=pace(request.app.state.server.settings))
    try:
        document = parse_json(body.decode("utf-8", errors="replace"))
    except ValueError as error:
        raise ApiError(400, f"answer: {error}") from None
    if not isinstance(document, dict):
        raise ApiError(400, 'answer: expected {"participant": ..., "trial": ..., "choice": 0 or 1}')
    choice = document.get("choice")
    real = await run_in_threadpool(
        _refusing, store.record_answer, document.get("participant"), document.get("trial"), choice
    )
    return {"recorded": True} | ({} if real is None else {"correct": choice == real, "real": real})


@router.get("/api/study/{name}/pictures/{trial}/{side}")
def picture(request: Request, name: str, trial: str, side: int) -> Response:
    jpeg = _study(request, name).picture(trial, side)
    if jpeg is None:
        raise ApiError(404, "no such picture")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/study/{name}/results", include_in_schema=False)
def results_html(request: Request, name: str, token: str = "") -> HTMLResponse:
    store = _admin(request, name, token)
    return HTMLResponse(results_page(summarise(store.plan, store.trials()), store.plan, token))


@router.get("/api/study/{name}/results")
def results_json(request: Request, name: str, token: str = "") -> dict[str, object]:
    store = _admin(request, name, token)
    return summarise(store.plan, store.trials())


@router.get("/api/study/{name}/results.csv")
def results_csv(request: Request, name: str, token: str = "") -> Response:
    store = _admin(request, name, token)
    trials = store.trials()
    excluded = set(summarise(store.plan, trials)["excluded"]["ids"])
    return Response(
        csv_text(answer_rows(trials, excluded)),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}-answers.csv"'},
    )
