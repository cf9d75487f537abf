# Two entry points, each doing everything on a fresh machine:
#   make demo   create the environment and run the bundled end-to-end report
#   make test   create the environment, lint, and run the test suite
PYTHON ?= python3
VENV   ?= .venv
# A CPU build of torch; an unpinned torch pulls a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.crossbar-installed

.PHONY: demo test lint bench wheel-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[all]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/crossbar-sim demo --out demo-report

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_mvm.py
	$(BIN)/python benchmarks/bench_nn.py
	$(BIN)/python benchmarks/bench_sweep.py

# Prove the non-editable install works: build a wheel, install it into a fresh
# venv and run a smoke check from outside the source tree, then from the
# repository root, where ./crossbar shadows the installed package (crossbar/_layout.py).
wheel-check: $(STAMP)
	rm -rf dist /tmp/crossbar-wheel-venv
	$(BIN)/pip wheel --quiet --no-deps -w dist .
	$(PYTHON) -m venv /tmp/crossbar-wheel-venv
	/tmp/crossbar-wheel-venv/bin/pip install --quiet $(TORCH)
	/tmp/crossbar-wheel-venv/bin/pip install --quiet dist/crossbar_sim-*.whl
	cd /tmp && /tmp/crossbar-wheel-venv/bin/python -m crossbar.smoke
	cd /tmp && /tmp/crossbar-wheel-venv/bin/crossbar-sim devices
	cd $(CURDIR) && /tmp/crossbar-wheel-venv/bin/python -c "import crossbar; print(crossbar.devices.load('pcm').name, 'from', crossbar.devices.__file__)"
	cd $(CURDIR) && /tmp/crossbar-wheel-venv/bin/python -m crossbar.smoke

clean:
	rm -rf $(VENV) dist build *.egg-info demo-report
