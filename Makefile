# pytest-autotune: the two entry points of the README.
#   make demo   tune the example cases in simulator mode (no GPU needed)
#   make test   the whole test suite, as CI runs it
# Both bootstrap what they need on a fresh machine and are safe to run again.

PYTHON ?= python3
VENV   ?= .venv
EXTRAS ?= dev
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: demo test venv lint typecheck docker-engine clean

venv: $(STAMP)

# Re-installs when pyproject.toml changes; an editable install keeps the pytest11 entry point live.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(BIN)/pytest tuning_cases

docker-engine:
	@scripts/ensure-docker-engine

test: $(STAMP)
	scripts/run-tests $(BIN)/pytest --durations=40

lint: $(STAMP)
	$(BIN)/ruff check pytest_autotune tests benchmarks scripts
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .autotune results .pytest_cache .mypy_cache
