PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test demo bench bench-quick fuzz clean compat-reference

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[all,test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 tests

demo: $(STAMP)
	$(PY) -m kbridge.demo

# Benchmarks (benchmarks/RESULTS.md, results.png); bench-quick is a smoke run of the harness.
bench: $(STAMP)
	$(PY) -m benchmarks.run

bench-quick: $(STAMP)
	$(PY) -m benchmarks.run --quick

# The hostile-release fuzzers with many fresh examples (make test runs 60 fixed ones each).
fuzz: $(STAMP)
	KBRIDGE_FUZZ_EXAMPLES=$${KBRIDGE_FUZZ_EXAMPLES:-2000} $(PY) -m pytest -q \
		tests/hub/test_hostile_releases.py -k fuzzed

# Re-record real Keras 3's results for tests/compat/programs (tests/compat/keras_reference.json).
compat-reference: $(STAMP)
	$(PY) -m tests.compat.make_reference

clean:
	rm -rf $(VENV) build *.egg-info
