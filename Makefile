# Two entry points (see README): `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv

.PHONY: install demo test bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

demo: install
	$(VENV)/bin/eo-tiler demo

test: install
	$(VENV)/bin/pytest -q

# eo-tiler against TiTiler on a full generated Sentinel-2 tile (see README, "Benchmark").
bench: install
	$(VENV)/bin/python -m bench
