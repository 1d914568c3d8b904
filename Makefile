PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test demo bench clean compat-reference

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

bench: $(STAMP)
	$(PY) benchmarks/dispatch.py

# Re-record real Keras 3's results for tests/compat/programs (tests/compat/keras_reference.json).
compat-reference: $(STAMP)
	$(PY) -m tests.compat.make_reference

clean:
	rm -rf $(VENV) build *.egg-info
