"""The models the web app offers: the bundled ones (``default`` first) and every model file in
``--models-dir``, each loaded once (on first use) and described in a few lines from its model card or its
own metadata."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from chromalab.colorize.core import BaseColorizer
from chromalab.colorize.loading import backend_for, torch_installed, torch_missing
from chromalab.colorize.options import DEFAULT_MODEL, bundled_names, bundled_weights

CARD_SUFFIX = ".md"  # a model card beside a model file: NAME.md next to NAME.safetensors
ABOUT_CHARS = 320  # what the page shows of a card
# what the page says of each bundled model, for the person choosing one (the model cards are for developers;
# the figures are theirs: src/chromalab/weights/MODEL_CARD.md)
BUNDLED_ABOUT = {
    "default": "The best colours chromalab has: it knows what things are (skin, trees, skies) and takes your "
    "hints directly. Trained on 50,000 photos, many of people.",
    "fast-v1": "An older, smaller model: 6-8 times faster than default, for slow computers, but duller "
    "colours "
    "(it often guesses browns). Your hints are spread over its colours.",
}


class Catalogue:
    """Model names -> files, colorizers (cached) and descriptions. Thread-safe."""

    def __init__(
        self,
        first: str = DEFAULT_MODEL,
        models_dir: Path | None = None,
        *,
        engine: str = "auto",
        device: str = "auto",
    ) -> None:
        self.engine, self.device = engine, device
        self.files = {
            DEFAULT_MODEL: bundled_weights(),
            **{name: bundled_weights(name) for name in bundled_names()},
        }
        self._bundled = dict(self.files)
        if models_dir is not None:
            self.files.update({path.stem: path for path in sorted(Path(models_dir).glob("*.safetensors"))})
        if first not in self.files:  # a file given by path: offered under its stem, first
            path = Path(first)
            self.files = {path.stem: path, **{k: v for k, v in self.files.items() if k != path.stem}}
            first = path.stem
        self.first = first
        self._loaded: dict[str, BaseColorizer] = {}
        self._lock = threading.Lock()
        self._torch_threads: int | None = None  # torch's own count, given back by ``close``
        if not torch_installed():  # the base install: only models with a graph are on offer
            self.files = {name: path for name, path in self.files.items() if self._runs_on(name) == "onnx"}
            if first not in self.files:
                raise ValueError(torch_missing(first))

    @property
    def names(self) -> list[str]:
        return [self.first, *(name for name in self.files if name != self.first)]

    def colorizer(self, name: str | None) -> BaseColorizer:
        """The colorizer of ``name`` (None: the first); ValueError for a name not on offer or a bad file."""
        name = name or self.first
        if name not in self.files:
            raise ValueError(f"unknown model {name!r}; on offer: {', '.join(self.names)}")
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = self._open(name)
            return self._loaded[name]

    def _open(self, name: str) -> BaseColorizer:
        """A bundled model by its name, any other by its file: on onnxruntime where it has a graph (the
        default's ship beside its weights) unless ``engine`` is torch, with one thread per photo as torch runs
        in the pool; on torch otherwise."""
        if self._runs_on(name) == "onnx":
            from chromalab.colorize.onnx_backend import OnnxColorizer

            return OnnxColorizer.load(self._model(name), threads=1, device=self.device)
        import torch

        from chromalab.colorize.torch_backend import Colorizer

        if self._torch_threads is None:
            self._torch_threads = torch.get_num_threads()
            torch.set_num_threads(1)  # one thread per photo: the pool's workers share the cores
        return Colorizer.load(self.files[name])

    def _model(self, name: str) -> str:
        """What ``colorize.loading`` calls the model: a bundled one by its name, any other by its file."""
        return name if self.files[name] == self._bundled.get(name) else str(self.files[name])

    def _runs_on(self, name: str) -> str:
        return "torch" if self.engine == "torch" else backend_for(self._model(name))

    def close(self) -> None:
        """Give torch back its thread count (an app in a test lives inside a longer process)."""
        if self._torch_threads is not None:
            import torch

            torch.set_num_threads(self._torch_threads)

    def about(self, name: str) -> dict[str, object]:
        """What the page says of a model: its name, kind, recommended settings and a few lines of its card."""
        colorizer = self.colorizer(name)
        described = colorizer.description
        return {
            "name": name,
            "architecture": described["model"],
            "bins": described.get("bins"),
            "classification": described.get("bins") is not None,
            "hints": colorizer.takes_hints,
            "size": colorizer.size,
            "min_view": colorizer.min_view,
            "temperature": colorizer.temperature,
            "about": self._card(name, described.get("info", {})),
        }

    def _card(self, name: str, info: dict) -> str:
        path = self.files[name]
        if name in BUNDLED_ABOUT and path == self._bundled.get(name):
            return BUNDLED_ABOUT[name]
        card = path.with_name("MODEL_CARD.md") if name == DEFAULT_MODEL else path.with_suffix(CARD_SUFFIX)
        if card.is_file():
            return card_summary(card.read_text(encoding="utf-8"))
        facts = [
            f"{info[key]} {label}"
            for key, label in (("steps", "steps"), ("images_seen", "images seen"))
            if key in info
        ]
        return f"{path.name}: trained model file" + (f" ({', '.join(facts)})" if facts else "") + "."


def card_summary(text: str) -> str:
    """The opening of a model card as plain text: its first paragraphs after the title, markup removed."""
    body = [line.strip().removeprefix("- ") for line in text.splitlines() if not line.startswith("#")]
    plain = re.sub(r"[`*_]", "", " ".join(body)).strip()
    plain = re.sub(r"\s+", " ", plain)
    return plain if len(plain) <= ABOUT_CHARS else plain[: ABOUT_CHARS - 1].rsplit(" ", 1)[0] + "…"
