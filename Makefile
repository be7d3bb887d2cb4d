# One-command entry points. `make test` works on a fresh machine: it creates .venv, installs the pinned
# CPU build of torch FIRST (otherwise pip resolves a multi-GB CUDA build), then the package with test extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench lint weights clean

$(STAMP): pyproject.toml setup.py src/chromalab/color/_srgb8.c
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

demo: $(STAMP)
	$(BIN)/python -m chromalab.demo out

bench: $(STAMP)
	$(BIN)/python bench/bench_spine.py
	$(BIN)/python bench/bench_default.py
	$(BIN)/python bench/bench_int8.py
	$(BIN)/python bench/bench_serve.py
	$(BIN)/python bench/bench_video.py
	$(BIN)/python bench/bench_hints.py --figure docs/hints-curve.png
	$(BIN)/python bench/bench_cluster.py
	$(BIN)/python bench/bench_reference.py

# the bundled graph is derived from the bundled weights: re-export after changing them
weights: $(STAMP)
	$(BIN)/chromalab export default -o src/chromalab/weights/default.onnx --overwrite

clean:
	rm -rf $(VENV) out build src/*.egg-info src/chromalab/color/_srgb8*.so
