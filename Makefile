# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A CPU build of torch (on this project's machines the file lies on disk; elsewhere pip fetches it, and
# PyPI's default build is the large CUDA one: `make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu`).
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: demo test venv bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	# InceptionV3 for FID (optional): torch-fidelity without its torchvision dependency (docs/features.md).
	$(BIN)/pip install -q --disable-pip-version-check --no-deps "torch-fidelity==0.4.0"
	touch $@

# Train the default preset (DCGAN on the 8x8 digits that ship with scikit-learn) and print the report.
demo: venv
	$(BIN)/gankit train digits

# The test suite (what .ci/run calls).
test: venv
	$(BIN)/python -m pytest -q tests

bench: venv
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
