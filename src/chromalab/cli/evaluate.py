"""``chromalab evaluate``: score a model on a folder of colour photos, next to the grey baseline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from chromalab.cli.app import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    app,
    json_text,
    open_colorizer,
    progress,
    refuse_replacing_inputs,
    report_error,
    usage_error,
    write_outputs,
)
from chromalab.cli.shared_options import (
    device_option,
    engine_option,
    model_option,
    network_every_option,
    size_option,
    temperature_option,
    temporal_option,
)
from chromalab.color.decoding import DEFAULT_TEMPERATURE

if TYPE_CHECKING:
    from chromalab.color.bin_index import BinIndex
    from chromalab.colorize.core import BaseColorizer
    from chromalab.evaluation.score import Skipped


@app.command()
def evaluate(
    data: Path = typer.Argument(
        ...,
        help="Folder of colour photos (searched recursively; grey ones are skipped), or a colour video or a "
        "folder of them (frame metrics, plus CDC and warping error).",
    ),
    model: str = model_option(),
    engine: str = engine_option(),
    device: str = device_option(),
    size: int = size_option(
        "Side of the square the network sees, at most the photo's shorter side or the model's min_view "
        "(default: the model's, else 256)."
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Write the summary here (JSON)."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Write one row per photo here (CSV)."),
    temperature: float = temperature_option(
        f"Annealed-mean temperature (default: the model's, else {DEFAULT_TEMPERATURE})."
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Score at most N photos, evenly spaced through the sorted list."
    ),
    bins: str | None = typer.Option(
        None, "--bins", help="Bin set of accuracy_bins (default: the model's own), e.g. gamut:16."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, max=256, help="Photos per network call."),
    temporal: str = temporal_option("Videos: flow (steadied along the optical flow) or none."),
    network_every: int = network_every_option(),
    frames: int | None = typer.Option(
        None, "--frames", min=2, help="Videos: score at most the first N frames of each."
    ),
    hints: int = typer.Option(
        0,
        "--hints",
        min=0,
        max=1000,
        help="Photos: give the colorizer N point hints drawn "
        "from the truth (Zhang et al. 2017's sampler, seeded): the PSNR-vs-hints curve.",
    ),
) -> None:
    """Score a model: PSNR, SSIM, AuC (plain and rebalanced), colorfulness, closeness, bin accuracy; for
    videos also the temporal consistency (CDC, warping error) of the colorization and of the truth."""
    from chromalab.images import evenly_spaced, list_images
    from chromalab.video.kinds import VIDEO_SUFFIXES, is_video

    if not data.exists():
        usage_error(f"{data}: no such folder")
    if not data.is_dir() and not is_video(data):
        usage_error(f"{data}: not a folder or a video (evaluate takes a folder of colour photos, or videos)")
    if bins is not None:
        _check_bins(bins)
    refuse_replacing_inputs([json_path, csv_path], [data])
    opening = {"engine": engine, "device": device, "size": size, "temperature": temperature}
    clips = [data] if data.is_file() else list_images(data, suffixes=VIDEO_SUFFIXES)
    if clips:
        if data.is_dir() and list_images(data):
            print(
                f"note: {data}: scoring its {len(clips)} video(s); its photos are left out (evaluate them "
                f"apart)",
                file=sys.stderr,
            )
        if hints:
            usage_error("--hints scores photos; videos take no hints")
        return _score_clips(
            clips,
            data,
            model,
            open_colorizer(model, show_warnings=True, **opening),
            bins=bins,
            temporal=temporal,
            network_every=network_every,
            frames=frames,
            json_path=json_path,
            csv_path=csv_path,
        )
    paths = evenly_spaced(list_images(data), limit)
    if not paths:
        report_error(data, "no images found in this folder")
        raise typer.Exit(EXIT_SOME_FAILED)
    return _score_photos(
        paths,
        data,
        model,
        open_colorizer(model, show_warnings=True, **opening),
        bins=bins,
        batch_size=batch_size,
        hints=hints,
        json_path=json_path,
        csv_path=csv_path,
    )


def _score_photos(
    paths: list[Path],
    data: Path,
    model: str,
    colorizer: BaseColorizer,
    *,
    bins: str | None,
    batch_size: int,
    hints: int,
    json_path: Path | None,
    csv_path: Path | None,
) -> NoReturn:
    """``evaluate`` on photos; exits."""
    from chromalab.evaluation import score

    with progress("evaluating", len(paths)) as advance:

        def on_image(path: Path, skipped: score.Skipped | None) -> None:
            _report(path, skipped)
            advance()

        result = score.evaluate(
            paths,
            colorizer,
            root=data,
            bins=bins,
            batch_size=batch_size,
            hints=hints,
            on_image=on_image,
        )
    if not result.images:
        why = f"{len(result.grey_photos)} grey" if result.grey_photos else "no readable"
        report_error(data, f"no colour photos to score ({why} of {len(paths)} images)")
        raise typer.Exit(EXIT_SOME_FAILED)
    own_bins = _described(result.model.bin_sets.get("accuracy_bins"))
    info = {**_settings(model, own_bins, colorizer), "hints": hints}
    summary = result.summary(info)
    written = _write(json_path, csv_path, summary, result)
    _print_table(summary, own_bins)
    if result.grey_photos:
        print(f"skipped {len(result.grey_photos)} grey photos", file=sys.stderr)
    raise typer.Exit(EXIT_SOME_FAILED if result.failed or not written else EXIT_OK)


def _score_clips(
    clips: list[Path],
    data: Path,
    model: str,
    colorizer: BaseColorizer,
    *,
    bins: str | None,
    temporal: str,
    network_every: int,
    frames: int | None,
    json_path: Path | None,
    csv_path: Path | None,
) -> NoReturn:
    """``evaluate`` on videos; exits."""
    from chromalab.evaluation.clip_score import clip_summary, evaluate_clips

    with progress("frames", None, rate_of="frames") as advance:
        result, scored = evaluate_clips(
            clips,
            colorizer,
            root=data if data.is_dir() else None,
            temporal=temporal,
            network_every=network_every,
            max_frames=frames,
            bins=bins,
            on_frame=advance,
            skip_broken=True,
        )
    for path, reason in result.failed:  # a bad clip is one line; the others are scored
        report_error(path, reason)
    if not scored:
        raise typer.Exit(EXIT_SOME_FAILED)
    own_bins = _described(result.model.bin_sets.get("accuracy_bins"))
    info = {
        **_settings(model, own_bins, colorizer),
        "temporal": temporal,
        "network_every": network_every if temporal == "flow" else 1,
    }
    summary = clip_summary(result, scored, info)
    written = _write(json_path, csv_path, summary, result)
    _print_table(summary, own_bins)
    truth = summary["ground_truth"]
    print(
        f"temporal: CDC {summary['metrics']['cdc']:.5f} (truth {truth['cdc']:.5f}), warping error "
        f"{summary['metrics']['warping_error']:.5f} (truth {truth['warping_error']:.5f})"
    )
    raise typer.Exit(EXIT_SOME_FAILED if result.failed or not written else EXIT_OK)


def _described(bins: BinIndex | None) -> str | None:
    return None if bins is None else bins.describe()


def _check_bins(spec: str) -> None:
    from chromalab.evaluation.score import scoring_bins

    try:
        scoring_bins(spec)
    except ValueError as error:
        usage_error(f"--bins {spec}: {error}")


def _report(path: Path, skipped: Skipped | None) -> None:
    """``score.evaluate``'s word on one photo: a grey one is a note, an unreadable one an error line."""
    if skipped is not None and skipped.grey:
        print(f"note: {path}: {skipped.reason}", file=sys.stderr, flush=True)
    elif skipped is not None:
        report_error(path, skipped.reason)


def _settings(model: str, own_bins: str | None, colorizer: BaseColorizer) -> dict[str, object]:
    """What the summary says it was scored with: the model, its accuracy bins, its view and temperature."""
    return {"model": model, "bins": own_bins, "size": colorizer.size, "temperature": colorizer.temperature}


def _write(json_path: Path | None, csv_path: Path | None, summary: dict, result) -> bool:
    """Write the summary JSON and the per-photo CSV atomically; False if one could not be written."""
    import csv
    import io

    outputs = []
    if json_path is not None:
        outputs.append((json_path, json_text(summary)))
    if csv_path is not None:
        rows = list(result.rows())
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        outputs.append((csv_path, buffer.getvalue()))
    return write_outputs(outputs)


def _print_table(summary: dict, own_bins: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from chromalab.evaluation.metrics import SHOWN_METRICS

    ours, grey = summary["metrics"], summary["gray_baseline"]
    hints = f", {ours['hints']} hints each" if ours.get("hints") else ""
    scored = (
        f"{summary['images']} frames of {len(summary['clips'])} clips"
        if "clips" in summary
        else f"{summary['images']} photos"
    )
    title = f"{ours['model']} on {scored} (size {ours['size']}, T = {ours['temperature']}{hints})"
    table = Table(title=title)
    for column, justify in (("metric", "left"), ("model", "right"), ("grey baseline", "right")):
        table.add_column(column, justify=justify)
    for key, label, fmt in SHOWN_METRICS:
        if key not in ours:
            continue
        cells = ["-" if d.get(key) is None else fmt.format(d[key]) for d in (ours, grey)]
        table.add_row(label.format(bins=own_bins), *cells)
    Console().print(table)
    if ours.get("hue_tv") is not None:
        print(_hue_line(ours))
    print(f"{ours['seconds']:.1f} s ({ours['seconds_model']:.1f} s in the network)")


def _hue_line(ours: dict) -> str:
    """The hues of the chromatic pixels, model against truth, e.g. ``violet+magenta 30% (truth 3%), ...``."""
    from chromalab.evaluation.hues import NAMED_BANDS

    shares = ", ".join(
        f"{band.label} {ours[f'hue_{band.key}']:.0%} (truth {ours[f'hue_{band.key}_gt']:.0%})"
        for band in NAMED_BANDS
    )
    return f"hues of the chromatic pixels (chroma > 10): {shares}"
