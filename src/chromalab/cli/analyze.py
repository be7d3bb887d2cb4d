"""``chromalab analyze FIGURE ... -o OUT.png``: one figure per sub-command, drawn by
``chromalab.analysis``."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import typer

from chromalab.cli.app import (
    EXIT_SOME_FAILED,
    app,
    model_file_of,
    open_colorizer,
    refuse_replacing_inputs,
    report_error,
    usage_error,
)
from chromalab.cli.shared_options import TORCH_MODEL_HELP, model_option, size_option, temperature_option
from chromalab.color.decoding import DEFAULT_TEMPERATURE

analyze_app = typer.Typer(
    name="analyze",
    help="Draw one analysis figure as a PNG: bins, prior, histograms, clusters, temperature, compare, flat, "
    "activations, hues, loss.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(analyze_app, name="analyze")

FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _check_out(out: Path) -> Path:
    if out.suffix.lower() not in FIGURE_SUFFIXES:
        raise typer.BadParameter(f"a figure is written as PNG (.png) or JPEG (.jpg, .jpeg), got {out.name!r}")
    return out


OUT = typer.Option(
    ..., "-o", "--out", callback=_check_out, help="Figure to write: .png, or JPEG for .jpg and .jpeg."
)
MODEL = model_option(TORCH_MODEL_HELP)
SIZE = size_option("Side of the square the network sees (default: the model's, else 256).")
LIMIT = typer.Option(None, "--limit", min=1, help="Use at most N images, evenly spaced.")
ROWS = typer.Option(8, "--limit", min=1, help="At most N rows (photos), evenly spaced.")


@contextlib.contextmanager
def _errors(subject: object) -> Iterator[None]:
    """Turn the library's errors into the CLI conventions: missing or bad input -> exit 2, an unreadable
    image or an unwritable output -> exit 1, one line each, never a traceback."""
    from chromalab.analysis.ab_data import NoImagesError
    from chromalab.images import ImageError

    try:
        yield
    except NoImagesError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)  # the message starts with the folder
        raise typer.Exit(EXIT_SOME_FAILED) from None
    except ImageError as error:
        report_error(subject, error)
        raise typer.Exit(EXIT_SOME_FAILED) from None
    except (FileNotFoundError, ValueError) as error:
        usage_error(str(error))
    except OSError as error:
        report_error(getattr(error, "filename", None) or subject, error.strerror or error)
        raise typer.Exit(EXIT_SOME_FAILED) from None


COMPARED_SIDE = 1024  # compare colorizes photos this large, as a user would, though the panels are smaller


def _save(fig, out: Path, inputs: list[Path]) -> None:
    """Write the figure to ``out``, which may not replace one of the command's ``inputs`` (exit 2)."""
    from chromalab.analysis.figures import save_figure

    refuse_replacing_inputs([out], inputs)
    with _errors(out):
        save_figure(fig, out)
    print(out)


def _load_model(model: str, size: int | None):  # -> Colorizer
    if model.endswith(".onnx"):  # the figures look inside the network, which runs on torch here
        usage_error(f"--model {model}: analyze runs a model on torch; give its .safetensors file or run")
    model = str(model_file_of(Path(model)))  # a run folder: its model
    # an untrained registered architecture is allowed here, on purpose: no warning
    return open_colorizer(model, engine="torch", **({} if size is None else {"size": size}))


def _model_name(model: str) -> str:
    """A column title: the file's stem, with its folder when the stem says nothing (RUN/model)."""
    if not model.endswith(".safetensors"):
        return model
    path = Path(model)
    return f"{path.parent.name}/{path.stem}" if path.stem in ("model", "checkpoint") else path.stem


def _images(
    paths: list[Path], *, limit: int | None = None, max_side: int | None = None
) -> list[tuple[str, object]]:
    """IMAGE arguments (files or folders) -> [(name, uint8 RGB)], shrunk to ``max_side`` (default: the
    figures' ``MAX_SIDE``); exits on a missing or unreadable one."""
    from chromalab.analysis.ab_data import MAX_SIDE, find_images
    from chromalab.images import evenly_spaced, open_rgb

    files: list[Path] = []
    for path in paths:
        if not path.exists():
            usage_error(f"{path}: no such file or folder")
        with _errors(path):
            files += find_images(path) if path.is_dir() else [path]
    loaded = []
    for path in evenly_spaced(files, limit):
        with _errors(path):
            loaded.append((path.stem, open_rgb(path, max_side=max_side or MAX_SIDE)))
    return loaded


def _source(source: Path) -> Path:
    if not source.exists():
        usage_error(f"{source}: no such cache or folder")
    if not source.is_dir():
        usage_error(f"{source}: expected a cache made by 'chromalab prepare' or a folder of photos")
    return source


def _bins(spec: str, source: Path | None = None):  # -> Bins
    from chromalab.color.bin_sets import make_bins

    histogram = None
    if spec.startswith("data:"):
        from chromalab.analysis.ab_data import is_cache
        from chromalab.data.cache import Cache, histogram_from_counts

        grid = re.fullmatch(r"data:(\d+)", spec)
        if grid is None or int(grid.group(1)) < 2:
            usage_error(f"--bins {spec}: expected data:G with a grid G >= 2, e.g. data:10")
        if source is None or not is_cache(source):
            usage_error(f"--bins {spec}: data bins need a cache made by 'chromalab prepare'")
        with _errors(source):
            histogram = histogram_from_counts(Cache(source).ab_counts, grid=int(grid.group(1)))
    try:
        return make_bins(spec, histogram=histogram)
    except ValueError as error:
        usage_error(f"--bins {spec}: {error}")


@analyze_app.command("bins")
def bins_figure(
    out: Path = OUT,
    bins: str = typer.Option(
        "gamut:16",
        "--bins",
        "-b",
        help="gamut:10, gamut:16, data:G (needs --cache), channels:N or file:PATH.",
    ),
    cache: Path = typer.Option(None, "--cache", help="Cache whose ab histogram defines data:G bins."),
    lightness: float = typer.Option(50.0, "--lightness", "-l", min=0.0, max=100.0, help="L of the colours."),
) -> None:
    """The bin set in colour: each bin a square of its grid size, coloured at L = 50 (Ling et al. fig. 1)."""
    from chromalab.analysis.ab_plane import plot_bins

    _save(plot_bins(_bins(bins, cache), lightness=lightness), out, [cache] if cache else [])


@analyze_app.command("prior")
def prior_figure(
    source: Path = typer.Argument(..., help="A cache (its train pixels) or a model file (its stored prior)."),
    out: Path = OUT,
    grid: int = typer.Option(
        1,
        "--grid",
        "-g",
        min=1,
        max=64,
        help="Cache only: 1 = every integer ab (fine), "
        "G = cells centred on multiples of G (10 = the stored histogram).",
    ),
) -> None:
    """The ab prior as a log-scale heat map (Gustavsson fig. 1b)."""
    from chromalab.analysis.ab_plane import plot_ab_counts, plot_bin_prior

    if not source.exists():
        usage_error(f"{source}: no such cache or model file")
    if source.is_file():
        from chromalab.models.checkpoint import load_model

        with _errors(source):
            loaded = load_model(source)
            if loaded.bins is None or loaded.prior is None:
                raise ValueError(
                    f"{source}: the model file stores no prior "
                    f"({'a regression model has no bins' if loaded.bins is None else 'none saved'})"
                )
            title = f"{_model_name(str(source))}: prior stored in the model"
            fig = plot_bin_prior(loaded.bins, loaded.prior, title=title)
    else:
        from chromalab.data.cache import Cache, histogram_from_counts

        with _errors(source):
            counts = Cache(_source(source)).ab_counts
            counts = counts if grid == 1 else histogram_from_counts(counts, grid=grid)
            fig = plot_ab_counts(counts, grid=grid, title=f"{source.name}: train pixels of the cache")
    _save(fig, out, [source])


@analyze_app.command("histograms")
def histograms_figure(
    source: Path = typer.Argument(..., help="A cache (its train pixels) or a folder of photos."),
    out: Path = OUT,
    log: bool = typer.Option(False, "--log", help="Logarithmic y axis."),
    limit: int = LIMIT,
) -> None:
    """Per-channel a and b histograms (Agrawal and Sawhney fig. 9)."""
    from chromalab.analysis.ab_data import load_ab_counts
    from chromalab.analysis.ab_plane import plot_channel_histograms

    with _errors(source):
        counts, description = load_ab_counts(_source(source), limit=limit)
        fig = plot_channel_histograms(counts, title=description, log=log)
    _save(fig, out, [source])


@analyze_app.command("clusters")
def clusters_figure(
    source: Path = typer.Argument(..., help="A cache (all its photos) or a folder of photos."),
    out: Path = OUT,
    k: int = typer.Option(4, "--k", "-k", min=1, max=32, help="Number of clusters."),
    bins: str = typer.Option("gamut:16", "--bins", "-b", help="Bin set of the per-image histograms."),
    seed: int = typer.Option(0, "--seed", help="Seed of k-means; same seed, same clusters."),
    limit: int = LIMIT,
) -> None:
    """K-means of the photos by their bin histograms; each cluster's average histogram (Ling et al., 6.1)."""
    from chromalab.analysis.ab_data import iter_ab
    from chromalab.analysis.clusters import cluster_images, plot_clusters

    bin_set = _bins(bins, _source(source))
    with _errors(source):
        clusters = cluster_images(iter_ab(source, limit=limit), bin_set, k=k, seed=seed)
        fig = plot_clusters(clusters, title=f"{source.name}: {len(clusters.names)} images")
    for number, size in enumerate(clusters.sizes, 1):
        members = clusters.members(number - 1)
        print(f"cluster {number}: {size} images: {', '.join(members[:5])}{' ...' * (size > 5)}")
    _save(fig, out, [source])


def _draw_one_image(draw, image: Path, model: str, size: int | None, out: Path) -> None:
    """A figure of one photo through one model: ``draw(colorizer, rgb, name=...)``, saved to ``out``."""
    ((_, rgb),) = _images([image])
    colorizer = _load_model(model, size)
    with _errors(image):
        fig = draw(colorizer, rgb, name=_model_name(model))
    _save(fig, out, [image])


def _one_photo_figure(name: str, draw: str, photo: str, doc: str) -> None:
    """Register ``chromalab analyze NAME IMAGE -o OUT``: ``model_figures.<draw>`` of one photo through one
    " "model."""

    def command(
        image: Path = typer.Argument(..., help=photo), out: Path = OUT, model: str = MODEL, size: int = SIZE
    ) -> None:
        from chromalab.analysis import model_figures

        _draw_one_image(getattr(model_figures, draw), image, model, size, out)

    command.__doc__ = doc
    analyze_app.command(name)(command)


_one_photo_figure(
    "temperature",
    "temperature_sweep",
    "A photo (colour or grey).",
    "The colorization at T = 1, 0.77, "
    "0.58, 0.38, 0.29, 0.14, 0 (Gustavsson fig. 2); classification models only.",
)


@analyze_app.command("compare")
def compare_figure(
    images: list[Path] = typer.Argument(..., help="Colour photos or folders of them (the ground truth)."),
    out: Path = OUT,
    model: list[str] = typer.Option(
        ["default"],
        "--model",
        "-m",
        help="A model per column, repeatable: a bundled one "
        "('default', 'fast-v1'), a .safetensors file or a registered name.",
    ),
    temperature: float = temperature_option(
        f"Annealed-mean T (default: each model's own, {DEFAULT_TEMPERATURE})."
    ),
    size: int = SIZE,
    limit: int = ROWS,
) -> None:
    """Rows = photos; columns = ground truth, grey input, then each model's prediction (no ground truth when
    every photo is black and white). A .jpg OUT writes a JPEG."""
    from chromalab.analysis.model_figures import comparison_grid

    loaded = _images(images, limit=limit, max_side=COMPARED_SIDE)
    models = [(_model_name(m), _load_model(m, size)) for m in model]
    with _errors(out):
        fig = comparison_grid(loaded, models, temperature=temperature)
    _save(fig, out, [*images, *map(Path, model)])


@analyze_app.command("flat")
def flat_figure(
    images: list[Path] = typer.Argument(..., help="Colour photos or folders of them."),
    out: Path = OUT,
    model: str = MODEL,
    lightness: float = typer.Option(
        None,
        "--lightness",
        "-l",
        min=0.0,
        max=100.0,
        help="Constant L (e.g. 50-70); default: each photo's mean L.",
    ),
    size: int = SIZE,
    limit: int = ROWS,
) -> None:
    """Lightness-averaged view (Santiago and Sieving): ground truth and prediction with L made flat, so
    only colour shows."""
    from chromalab.analysis.model_figures import lightness_averaged

    loaded = _images(images, limit=limit)
    colorizer = _load_model(model, size)
    with _errors(out):
        fig = lightness_averaged(loaded, colorizer, level=lightness, name=_model_name(model))
    _save(fig, out, [*images, Path(model)])


_one_photo_figure(
    "activations",
    "activation_maps",
    "A photo.",
    "One map per convolution layer: the channel with the highest mean activation (Santiago and Sieving).",
)


@analyze_app.command("hues")
def hues_figure(
    evaluations: list[Path] = typer.Argument(
        ..., help="JSON summaries written by 'chromalab evaluate --json' on photos, one panel each."
    ),
    out: Path = OUT,
) -> None:
    """Hue fidelity: the shares of the chromatic pixels per hue band (violet+magenta, red/orange, yellow,
    green, cyan/blue), the model's beside the truth's, and the hue distance (TV) of each evaluation."""
    from chromalab.analysis.hue_bars import hue_bars, read_hue_shares

    for path in evaluations:
        if not path.is_file():
            usage_error(f"{path}: no such file (analyze hues takes the JSON of 'chromalab evaluate --json')")
    with _errors(out):
        fig = hue_bars([(path.stem, read_hue_shares(path)) for path in evaluations])
    _save(fig, out, evaluations)


@analyze_app.command("loss")
def loss_figure(
    run: Path = typer.Argument(..., help="A run folder made by 'chromalab train'."), out: Path = OUT
) -> None:
    """Train and validation loss of a run against the step."""
    import json

    from chromalab.analysis.model_figures import save_run_loss_curves

    if not run.is_dir():
        usage_error(f"{run}: no such run folder")
    refuse_replacing_inputs([out], [run])
    with _errors(run):
        try:
            save_run_loss_curves(run, out)
        except json.JSONDecodeError as error:
            raise ValueError(f"{run}/metrics.jsonl: unreadable line ({error})") from None
    print(out)
