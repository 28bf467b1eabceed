# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-packages demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) system-packages

# Programs from the system (package:command): bubblewrap confines agents and checks (the default),
# chromium + chromium-driver drive the dashboard's browser test. Installed with apt-get when missing
# and possible (root or passwordless sudo); otherwise named, never an error.
SYSTEM_PACKAGES := bubblewrap:bwrap chromium:chromium chromium-driver:chromedriver

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do command -v $${p#*:} >/dev/null 2>&1 || missing="$$missing $${p%%:*}"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && sudo="sudo -n"; }; \
	if command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" = 0 ] || [ -n "$$sudo" ]; }; then \
	  $$sudo apt-get install -y --no-install-recommends $$missing >/dev/null 2>&1 \
	  || { $$sudo apt-get update -qq && $$sudo apt-get install -y --no-install-recommends $$missing; } \
	  || echo "could not install:$$missing"; \
	else echo "missing system packages:$$missing (install with apt-get)"; fi

demo: $(STAMP) system-packages
	@if [ -t 0 ]; then $(BIN)/baton demo; else $(BIN)/baton demo --yes; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: system-packages lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

# The production image, baton:local (Dockerfile). The wheels of this checkout and its pinned
# dependencies are built here, on the host, into the build context (nothing in the build reaches an
# index); the base is the Dockerfile's python:3.11-slim, or, where no image registry answers, an
# equivalent Debian bookworm base docker/base-image.sh builds once and keeps. docker/engine.sh makes
# sure a Docker engine answers (installing and starting one as root when it can).
IMAGE ?= baton:local
IMAGE_WHEELS := build/image/wheels

.PHONY: image
image: $(STAMP)
	docker/engine.sh
	rm -rf $(IMAGE_WHEELS)
	$(BIN)/python -m pip wheel --quiet --wheel-dir $(IMAGE_WHEELS) .
	base=$$(docker/base-image.sh) && docker build --network host --build-arg BASE_IMAGE="$$base" --tag $(IMAGE) .

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .baton .mypy_cache .ruff_cache .pytest_cache
