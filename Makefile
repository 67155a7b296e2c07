# Development tasks. `make demo` and `make test` are the README's two set-up commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned to a CPU-friendly release: a bare `torch` requirement on a machine with no torch pulls a
# CUDA build of several GB. Override for a GPU: make install TORCH="torch --index-url https://download.pytorch.org/whl/cu128"
TORCH ?= torch==2.13.0
SOURCES := src tests benchmarks scripts

.PHONY: install demo test lint format bench docs clean

$(BIN)/framecast: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/framecast

# The main job on the embedded default, offline: a generated Moving MNIST sequence predicted by the PredRNN
# checkpoint that ships in the package, written as a GIF of context, truth, prediction and error.
demo: install
	mkdir -p out/demo
	FRAMECAST_OFFLINE=1 $(BIN)/framecast predict moving-mnist --model predrnn -o out/demo/moving-mnist-predrnn.gif

lint: install
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

# TEST_JOBS workers in parallel (one per core here); a test file's tests stay on one worker: they share fixtures
TEST_JOBS ?= 2
test: lint
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile

format: install
	$(BIN)/ruff check --fix $(SOURCES)
	$(BIN)/ruff format $(SOURCES)

# bench_peer.py compares with OpenSTL when OPENSTL_SRC names a checkout of it (framecast alone otherwise)
bench: install
	$(BIN)/python benchmarks/bench_cli.py
	$(BIN)/python benchmarks/bench_peer.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_metrics.py

docs: install
	$(BIN)/python -m pip install -q mkdocs
	$(BIN)/mkdocs build -f docs/mkdocs.yml

clean:
	rm -rf $(VENV) out site .pytest_cache .ruff_cache
