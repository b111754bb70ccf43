SHELL := /bin/bash
# trunkline: two commands for a newcomer (see README): `make demo` and `make test`.
# Both install what they need (apt and pip) and are safe to run twice.

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
DEMO    ?= blueprints/acme-bank.yaml
STAMP   := $(VENV)/.installed

.PHONY: demo test deps apt venv lint bench clean

demo: deps
	$(BIN)/trunkline validate $(DEMO)
	$(BIN)/trunkline plan $(DEMO)
	$(BIN)/trunkline render $(DEMO) -o build/$(notdir $(basename $(DEMO)))
	$(BIN)/trunkline check build/$(notdir $(basename $(DEMO)))

test: deps
	$(BIN)/python -m pytest -q

deps: apt $(STAMP)

# apt only for packages not yet installed, so a second run is quick and needs no network
apt:
	@missing=$$(grep -v '^\s*#' .ci/apt-packages.txt | while read -r p; do [ -z "$$p" ] || dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' || echo "$$p"; done | tr '\n' ' '); \
	if [ -n "$${missing// }" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

bench: deps
	$(BIN)/python benchmarks/render_scale.py

clean:
	rm -rf build .pytest_cache .hypothesis
