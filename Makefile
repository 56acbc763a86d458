# dslforge: `make demo` installs and runs the main job; `make test` runs the suite.
PY := .venv/bin/python
PIP := .venv/bin/pip
STAMP := .venv/.installed

.PHONY: install demo test test-all bench check clean

install: $(STAMP)

# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev]"
	touch $(STAMP)

demo: install
	.venv/bin/dslforge demo

test: install
	$(PY) -m pytest -q -x --durations=15

test-all: install
	$(PY) -m pytest -q -m "" --durations=25

check: install
	.venv/bin/dslforge grammar check grammars/geoquery
	.venv/bin/dslforge grammar check grammars/workflow

bench: install
	$(PY) scripts/bench.py

clean:
	rm -rf .venv build *.egg-info .pytest_cache .hypothesis
