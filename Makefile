SHELL := /bin/bash
# trunkline: two commands for a newcomer (see README): `make demo` and `make test`.
# Both install what they need (apt and pip) and are safe to run twice.

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
DEMO    ?= blueprints/acme-bank.yaml
CENTER   = $(shell sed -n 's/^  name: *\([a-z0-9-]*\).*/\1/p' $(DEMO) | head -1)
STAMP   := $(VENV)/.installed
TESTING := $(VENV)/.installed-test

.PHONY: demo test deps apt freeswitch freeswitch-if-possible lint bench down clean

# the main job on the embedded default target, the lab: validate, plan, render, up, calls, verify
demo: deps
	$(BIN)/trunkline validate $(DEMO)
	$(BIN)/trunkline plan $(DEMO)
	$(BIN)/trunkline render $(DEMO) -o build/$(CENTER)
	$(BIN)/trunkline up $(DEMO)
	$(BIN)/trunkline call $(DEMO) --rate 20 --calls 200
	$(BIN)/trunkline verify $(DEMO) --junit build/$(CENTER)-verify.xml
	$(BIN)/trunkline comply $(DEMO) --live lab
	@echo
	@echo "The lab of $(CENTER) is up. Look at it:   $(BIN)/trunkline status --center $(CENTER)"
	@echo "  more calls:  $(BIN)/trunkline call $(DEMO) --rate 50 --calls 500"
	@echo "  a host:      ip netns exec tl-$(CENTER)-<host> ss -lnup   (hosts: trunkline status)"
	@echo "  its files:   build/$(CENTER)/<host>/etc/...   the cost:  $(BIN)/trunkline report $(DEMO) -o build/report"
	@echo "  take it down: $(BIN)/trunkline down --center $(CENTER)"

test: deps $(TESTING)
	$(BIN)/python -m pytest -q

deps: apt $(STAMP) freeswitch-if-possible

# apt only for packages not yet installed, so a second run is quick and needs no network
apt:
	@missing=$$(grep -v '^\s*#' .ci/apt-packages.txt | while read -r p; do [ -z "$$p" ] || dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' || echo "$$p"; done | tr '\n' ' '); \
	if [ -n "$${missing// }" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# FreeSWITCH 1.10.12 (Debian 12 has no package) under /opt/trunkline/freeswitch, from FREESWITCH_TARBALL
# (a tree packaged by scripts/freeswitch/build.sh), FREESWITCH_SRC (its source archives; a 4-6 min
# build) or the pinned upstream commits (internet). Quick and offline once installed.
freeswitch: apt
	scripts/freeswitch/install.sh

# the lab runs FreeSWITCH on its media nodes; with no source at all, deps goes on (SIPp stands in)
freeswitch-if-possible: apt
	scripts/freeswitch/install.sh --optional

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# the demo needs trunkline alone; the tests add their tools and the cloud providers (the cloud extra,
# about 450 MB: pulumi-aws, pulumi-kubernetes, kubernetes-validate's schemas; the demo does not load it)
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(STAMP)

$(TESTING): $(STAMP)
	$(BIN)/pip install -q -e '.[test,cloud]'
	touch $(TESTING)

# figures, not pass/fail: each prints what it measured
bench: deps
	$(BIN)/python benchmarks/render_scale.py
	$(BIN)/python benchmarks/failover.py
	$(BIN)/python benchmarks/edge_cps.py

down:
	$(BIN)/trunkline down --center $(CENTER)

clean:
	rm -rf build .pytest_cache .hypothesis
