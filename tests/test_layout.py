"""The package layout: one folder per stage of the data flow, each importing only the stages before it.

Read from the source as text (every ``import`` and ``from ... import``, also those inside functions), so a
lower stage that reaches up fails here, with the offending lines named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import chromalab

PACKAGE = Path(chromalab.__file__).parent
# the data flow, lowest first; a module may import its own stage and the ones before it (docs/design.md,
# README)
STAGES = {
    "color": 0,
    "files": 0,
    "images": 1,
    "models": 2,
    "data": 3,
    "colorize": 4,
    "training": 5,
    "video": 5,
    "evaluation": 6,
    "analysis": 7,
    "study": 7,
    "experiment": 8,
    "serve": 8,
    "cli": 9,
    "demo": 9,
    "__init__": 9,  # the package's own __init__: the facade over colorize
    "__main__": 10,
}
MAX_TOP_LEVEL_MODULES = 8  # besides __init__ and __main__
MAX_MODULE_LINES = 400


def stage_of(module: str) -> str:
    """'chromalab.colorize.core' -> 'colorize'; 'chromalab' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(relative.parts).removesuffix(".__init__")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every chromalab import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name == "chromalab" or name.startswith("chromalab.")]


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_stage() -> None:
    unknown = {stage_of(module_name(path)) for path in sources()} - set(STAGES)
    assert not unknown, (
        f"modules outside the stages of the layout: {sorted(unknown)}; add them to STAGES and the README"
    )


def test_no_stage_imports_a_later_stage() -> None:
    upward = []
    for path in sources():
        own = stage_of(module_name(path))
        for line, name in imported_modules(path):
            target = stage_of(name) if name != "chromalab" else "__init__"
            if STAGES[target] > STAGES[own]:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} ({own}) imports {name} ({target})")
    assert not upward, "imports that run up the data flow:\n" + "\n".join(upward)


def test_few_top_level_modules_and_no_long_module() -> None:
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in sources()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_every_folder_says_what_lives_there_and_who_imports_it() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "import" in doc, (
            f"{init.relative_to(PACKAGE)} needs a docstring naming what may import it"
        )
