# Two commands on a fresh machine: `make paper` builds paper/main.pdf on the default
# experiment; `make test` runs the tests. Both install whatever is missing first.
# `make verify`, after `make paper`, reads the PDF back and checks it against the results.
SHELL := /bin/bash
VENV := .venv
DEBIAN_PACKAGES := latexmk texlive-latex-recommended texlive-fonts-recommended poppler-utils wordnet-base
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup system-packages paper verify test clean

setup: system-packages $(VENV)/.installed

system-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# torch first (the local CPU wheel), then the pinned rest with a constraint that keeps it.
$(VENV)/.installed: requirements.txt requirements-lock.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -r requirements.txt -c requirements-lock.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

paper: setup
	dvc repro
	@echo "Built paper/main.pdf"

verify:
	python -m universality verify

test: setup
	python -m pytest

clean:
	rm -rf build .pytest_cache
