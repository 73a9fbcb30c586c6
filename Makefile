# Two commands for users: `make study` and `make test` (`make test-fast` while editing). All create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PARAMS ?= params/default.yaml

.PHONY: study test test-fast bench book clean install compute-curve

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

# Everything but the tests marked slow (the studies, the book build, the browser, model training, full-size
# simulations): the loop while editing. Prints its wall time; it should stay under 3 minutes on 2 cores.
test-fast: install
	@start=$$(date +%s); \
	$(BIN)/python -m pytest -q -m "not slow" --durations=8 || exit $$?; \
	echo "test-fast time: $$(( $$(date +%s) - start )) s"

bench: install
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit $$?; done

# Chapter 2's compute curve: a grid of pretraining steps x fine-tuning epochs on a finished run's data (minutes each).
RUN ?= runs/default
compute-curve: install
	$(BIN)/python benchmarks/compute_curve.py --run $(RUN)

clean:
	rm -rf runs _build
