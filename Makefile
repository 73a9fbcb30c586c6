# Two commands for users: `make study` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PARAMS ?= params/default.yaml

.PHONY: study test bench book clean install compute-curve

$(BIN)/clinicllm-study: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/clinicllm-study

study: install
	@start=$$(date +%s); \
	$(BIN)/clinicllm-study run $(PARAMS) || exit $$?; \
	echo "study time: $$(( $$(date +%s) - start )) s"; \
	echo "book: $(CURDIR)/runs/$(basename $(notdir $(PARAMS)))/html/index.html"

book: install
	$(BIN)/clinicllm-study book $(PARAMS)

test: install
	$(BIN)/python -m pytest -q --durations=12

bench: install
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit $$?; done

# Chapter 2's compute curve: a grid of pretraining steps x fine-tuning epochs on a finished run's data (minutes each).
RUN ?= runs/default
compute-curve: install
	$(BIN)/python benchmarks/compute_curve.py --run $(RUN)

clean:
	rm -rf runs _build
