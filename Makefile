# Two commands on a fresh machine: `make paper` builds paper/main.pdf on the default
# experiment; `make test` runs the tests. Both install whatever is missing first.
# `make verify`, after `make paper`, reads the PDF back and checks it against the results.
# The paper's cached artifacts (README, "Reproducing the paper"): reviewers pull them from the
# read-only `public` remote, authors push them to the writable `authors` remote.
SHELL := /bin/bash
VENV := .venv
DEBIAN_PACKAGES := latexmk texlive-latex-recommended texlive-fonts-recommended poppler-utils wordnet-base
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup system-packages paper verify test lint format dvc-deps clean pull-cache pull-activations pull-saes push-cache check-cache anonymous-artifact

# A virtual environment copied from another checkout still imports that checkout's src/ (its editable install): point it here.
setup: system-packages $(VENV)/.installed
	@[ "$$(cat $(VENV)/.installed)" = "$(CURDIR)" ] || { echo "Pointing $(VENV)'s editable install at $(CURDIR)"; \
	  $(VENV)/bin/python -m pip install -q --no-deps -e . && echo "$(CURDIR)" > $(VENV)/.installed; }

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
	$(VENV)/bin/python -m pip install -q torch==2.13.0
	$(VENV)/bin/python -m pip install -q -r requirements.txt -c requirements-lock.txt
	$(VENV)/bin/python -m pip install -q --no-deps -e .
	echo "$(CURDIR)" > $@

# The stages' units (layer pairs, extraction chunks) on a process per core, unless UNIVERSALITY_EXECUTOR says otherwise: the same bytes as `dvc repro`'s serial default.
paper: setup
	UNIVERSALITY_EXECUTOR=$${UNIVERSALITY_EXECUTOR:-processes} dvc repro
	@echo "Built paper/main.pdf"

verify:
	python -m universality verify

# Two workers: one builds the tiny end-to-end project while the other runs the unit tests; then
# both test copies of it (the reviewer's round trip, one xdist group, on one of them).
test: setup $(VENV)/.ray-installed lint
	python -m pytest -n 2 --dist loadgroup

# Format, lint and types (settings in pyproject.toml); any finding fails. `make format` fixes what it can.
lint: setup
	ruff format --check src tests bench
	ruff check src tests bench
	mypy

format: setup
	ruff format src tests bench
	ruff check --fix src tests bench

# dvc.yaml's code blocks, written from each stage's import closure (tests/test_dvc_deps.py checks them).
dvc-deps: setup
	python tests/import_closure.py

# The optional `ray` executor (docs/scaling.md): the tests run every stage that fans out on it too.
$(VENV)/.ray-installed: $(VENV)/.installed
	$(VENV)/bin/python -m pip install -q -e '.[ray]' -c requirements-lock.txt
	touch $@

# The public remote gets its address when the paper is published; until then say so, not a DNS error.
PUBLIC_REMOTE_SET = @dvc remote list | awk '$$1 == "public" && $$2 ~ /\.invalid/ {exit 1}' || { \
	echo "The public remote has no address until the paper is published. Pull from a copy you have:"; \
	echo "  dvc remote modify --local public url <https URL, s3://bucket/path or a folder>"; exit 1; }

pull-cache:  ## tier 1: every cached output (models, SAEs, activations, results)
	$(PUBLIC_REMOTE_SET)
	dvc pull

pull-activations:  ## tier 2: the activation caches and what made them (no results)
	$(PUBLIC_REMOTE_SET)
	dvc pull --with-deps extract

pull-saes:  ## tier 3: the token sets, models and SAEs, to extract again
	$(PUBLIC_REMOTE_SET)
	dvc pull --with-deps saes

check-cache:
	python -m universality check-cache

push-cache: check-cache  ## authors: every cached output to the writable remote
	dvc push -r authors

anonymous-artifact:
	python -m universality anonymous-artifact

clean:
	rm -rf build .pytest_cache
