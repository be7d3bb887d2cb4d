"""``chromalab study create`` and ``chromalab study results``: human studies of colorizations
(docs/studies.md).

The study itself runs in the web app: ``chromalab serve --study FILE``."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import typer

from chromalab.cli.app import EXIT_OK, EXIT_SOME_FAILED, app, json_text, progress, usage_error, write_outputs

study_app = typer.Typer(
    name="study",
    no_args_is_help=True,
    add_completion=False,
    help="Human studies: the colorization Turing test and the preference test, run in the web app.",
)
app.add_typer(study_app, name="study")


@study_app.command("create")
def create(
    name: str = typer.Argument(..., help="The study's name: its page is /study/NAME."),
    truth: Path = typer.Option(..., "--truth", help="Folder of the real colour photos."),
    methods: list[str] = typer.Option(
        ...,
        "--method",
        help="LABEL=DIR: a method's colorizations of the same photos, same names (repeatable).",
    ),
    out: Path = typer.Option(..., "-o", "--out", help="The study file to write (SQLite)."),
    kinds: str = typer.Option(
        None,
        "--kinds",
        help="turing, preference or both, comma-separated (default: turing, "
        "and preference with two or more methods).",
    ),
    practice: int = typer.Option(
        10, "--practice", help="Practice trials per participant, with feedback, not counted."
    ),
    trials: int = typer.Option(
        40, "--trials", help="Counted trials per participant, attention checks included."
    ),
    show_ms: int = typer.Option(
        1000, "--show-ms", help="How long each pair stays visible (ms); 0: until answered."
    ),
    attention: float = typer.Option(
        0.1,
        "--attention",
        help="Share of the counted trials that are attention checks (the real photo against random colours).",
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the practice photos, the random colours and the draws."
    ),
    skip_missing: bool = typer.Option(
        False,
        "--skip-missing",
        help="Leave out photos that are not in every folder or cannot be read (listed) instead of stopping.",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing study file (its answers too)."
    ),
) -> None:
    """Make a study: pair the photos of --truth and each --method by file name, store the plan and pictures.

    Then run it with 'chromalab serve --study OUT'. The admin token of its results page is printed."""
    import secrets

    from chromalab.study.create import StudyProblems, create_study
    from chromalab.study.pairing import pair_photos
    from chromalab.study.plan import PlanError, StudyPlan, default_kinds, parse_kinds

    folders = _method_folders(methods)
    for folder in (truth, *folders.values()):
        if not folder.is_dir():
            usage_error(f"{folder}: no such folder")
    if out.exists() and not overwrite:
        usage_error(f"{out} exists; pass --overwrite to replace it (and its answers)")
    _check_folder(out, "-o")
    try:
        labels = tuple(folders)
        plan = StudyPlan(
            name,
            labels,
            parse_kinds(kinds) if kinds else default_kinds(labels),
            practice=practice,
            trials=trials,
            show_ms=show_ms,
            attention=attention,
            seed=seed,
            token=secrets.token_urlsafe(16),
        )
        pairing = pair_photos(truth, folders)
        with progress("pictures", len(pairing.names)) as advance:
            created = create_study(out, plan, pairing, skip_problems=skip_missing, on_photo=advance)
    except StudyProblems as problems:
        for line in problems.problems:
            print(f"error: {line}", file=sys.stderr)
        usage_error(
            f"{len(problems.problems)} photo problem(s) above; fix them, or pass --skip-missing to leave "
            "those photos out"
        )
    except PlanError as error:
        usage_error(str(error))
    except OSError as error:
        usage_error(f"{out}: cannot write ({error.strerror or error})")
    except sqlite3.Error as error:  # the file could not be made (a folder that went away, a full disk...)
        usage_error(f"{out}: cannot write ({error})")
    for line in created.skipped:
        print(f"warning: left out: {line}", file=sys.stderr)
    _print_created(plan, created, out)


def _check_folder(path: Path, option: str) -> None:
    """Exit 2 unless ``path``'s folder exists: an output goes into a folder that is there, none is made."""
    if not path.parent.is_dir():
        usage_error(f"{option} {path}: no such folder {path.parent}")


def _method_folders(methods: list[str]) -> dict[str, Path]:
    """['A=dir/a', ...] -> {'A': Path('dir/a')}, or exit 2."""
    folders: dict[str, Path] = {}
    for given in methods:
        label, sep, folder = given.partition("=")
        if not sep or not label.strip() or not folder:
            usage_error(f"--method {given!r}: expected LABEL=DIR")
        if label.strip() in folders:
            usage_error(f"--method {label.strip()!r} given twice")
        folders[label.strip()] = Path(folder)
    return folders


def _print_created(plan, created, out: Path) -> None:  # plan: StudyPlan, created: Created
    test_photos = created.photos - created.practice_photos
    print(
        f"study {plan.name}: {created.photos} photos ({created.practice_photos} set apart for practice), "
        f"methods {', '.join(plan.methods)}; tests: {', '.join(plan.kinds)}"
    )
    print(
        f"each participant: {plan.practice} practice trials, then {plan.trials} trials "
        f"({plan.attention_trials} attention checks); pairs shown "
        f"{f'for {plan.show_ms} ms' if plan.show_ms else 'until answered'}"
    )
    print(f"wrote {out} ({created.pictures} pictures, {created.megabytes:.1f} MB)")
    print(f"run it:       chromalab serve --study {out}   -> http://localhost:8000/study/{plan.name}")
    print(f"results page: http://localhost:8000/study/{plan.name}/results?token={plan.token}")
    print(f"admin token:  {plan.token}")
    if test_photos < plan.trials:
        print(
            f"warning: {test_photos} test photos for {plan.trials} trials: a participant sees some photos "
            f"more "
            "than once",
            file=sys.stderr,
        )


@study_app.command("results")
def results(
    study: Path = typer.Argument(..., help="The study file (made by 'chromalab study create')."),
    json_path: Path = typer.Option(None, "--json", help="Write the summary here (JSON)."),
    csv_path: Path = typer.Option(None, "--csv", help="Write one row per answer here (CSV)."),
    min_attention: float = typer.Option(
        0.75,
        "--min-attention",
        help="Share of their attention checks a participant must get right to be counted.",
    ),
) -> None:
    """A study's results: how often each method fooled, which method was preferred, the attention checks.

    Each rate with its Wilson interval, an exact binomial test against 0.5 and a bootstrap over participants.

    Participants who fail the attention checks are left out; the rule is stated in the output."""
    from contextlib import closing

    from chromalab.study.results import answer_rows, csv_text, summarise
    from chromalab.study.storage import StudyFileError, StudyStore

    if not 0.0 <= min_attention <= 1.0:
        usage_error(f"--min-attention must be in [0, 1], got {min_attention}")
    for option, path in (("--json", json_path), ("--csv", csv_path)):
        if path is not None:
            _check_folder(path, option)
    try:
        with closing(StudyStore(study)) as store:
            plan, trials = store.plan, store.trials()
    except StudyFileError as error:
        usage_error(str(error))
    summary = summarise(plan, trials, min_attention=min_attention)
    outputs = [] if json_path is None else [(json_path, json_text(summary))]
    if csv_path is not None:
        outputs.append((csv_path, csv_text(answer_rows(trials, set(summary["excluded"]["ids"])))))
    written = write_outputs(outputs)
    _print_summary(summary)
    raise typer.Exit(EXIT_OK if written else EXIT_SOME_FAILED)


def _print_summary(summary: dict) -> None:
    excluded = summary["excluded"]
    print(
        f"study {summary['study']}: {summary['answers']} answers from {summary['participants']} participants "
        f"({summary['finished']} finished); {excluded['participants']} excluded ({excluded['answers']} "
        f"answers)"
    )
    print(f"  rule: {excluded['rule']}")
    rows = [("turing", label, "fooled", entry) for label, entry in summary["turing"].items()]
    rows += [("preference", label, "wins", entry) for label, entry in summary["preference"].items()]
    rows.append(("attention", "truth vs random colours", "passed", summary["attention"]))
    for kind, label, field, entry in rows:
        print(f"  {kind:<10} {label:<28} {_proportion_text(entry, field)}")
    print(f"  {summary['intervals']}")


def _proportion_text(entry: dict, field: str) -> str:
    if not entry["trials"]:
        return "no answer yet"
    low, high = entry["ci95"]
    boot = entry["bootstrap95"]
    return (
        f"{field} {entry[field]}/{entry['trials']} = {entry['rate']:.1%}  ci95 [{low:.1%}, {high:.1%}]  "
        f"bootstrap95 [{boot[0]:.1%}, {boot[1]:.1%}]  p = {entry['p_value']:.3g}"
    )
