# trunkline: two commands for a newcomer (see README): `make demo` and `make test`.
# Both install what they need (apt and pip) and are safe to run twice.

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
DEMO    ?= blueprints/acme-bank.yaml
APT_PKGS := kamailio kamailio-tls-modules keepalived
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

# apt only when a program is missing, so a second run is quick and works offline
apt:
	@missing=""; \
	command -v kamailio >/dev/null || missing="$$missing kamailio kamailio-tls-modules"; \
	[ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so ] || ls /usr/lib/*/kamailio/modules/tls.so >/dev/null 2>&1 || missing="$$missing kamailio-tls-modules"; \
	command -v keepalived >/dev/null || missing="$$missing keepalived"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
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
