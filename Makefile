# privmeter: `make demo` runs the demo, `make test` runs the whole test suite.
# Both create .venv and install torch==2.13.0 (the CPU build on this machine) first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint bench bench-auto bench-peers clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/privmeter demo --out privmeter-out --overwrite

test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_attacks.py
	$(PY) benchmarks/bench_signals.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_report.py
	$(PY) benchmarks/bench_lm_signals.py
	$(PY) benchmarks/bench_lm_training.py
	$(PY) benchmarks/bench_adapters.py
	$(PY) benchmarks/bench_dp.py

# pseudo-target selection (auto) against the best default attack: a few minutes
bench-auto: $(STAMP)
	$(PY) benchmarks/bench_auto.py --text-demo

bench-peers: $(STAMP)
	$(PY) benchmarks/peers/run.py

clean:
	rm -rf $(VENV) privmeter-out .pytest_cache .mypy_cache .ruff_cache
