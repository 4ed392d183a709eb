VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint format browser openapi bench

# The venv is (re)built when the pinned dependencies change.
$(INSTALLED): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

# Sandbox mode unless BILLING_SANDBOX says otherwise (set BILLING_SANDBOX=false with real
# credentials): the service never falls back to the sandbox by itself.
# PROVIDER=portone_v2 runs on PortOne V2 (its bundled sandbox in sandbox mode) instead of I'mport.
run: $(INSTALLED)
	BILLING_SANDBOX=$${BILLING_SANDBOX:-true} $(if $(PROVIDER),BILLING_PROVIDER=$(PROVIDER) )$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: lint browser
	$(BIN)/pytest

# lint-imports: the layering of pyproject.toml's [tool.importlinter] contracts.
# kubernetes-validate: deploy/kubernetes/ against the API schemas of Kubernetes 1.33 (the oldest
# the manifests target) and 1.37 (the newest the tool knows); kustomization.yaml is no API
# object. The tool only warns on a kind it has no schema for: tests/deploy/test_kubernetes.py
# checks that every file really passed.
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/kubernetes-validate --strict --quiet --kubernetes-version 1.33 --kubernetes-version 1.37 $(filter-out %/kustomization.yaml,$(wildcard deploy/kubernetes/*.yaml))

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The browser test drives Debian's Chromium (no browser download): installed here when we are
# root; otherwise, without it, the test is skipped (and fails under CI).
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# openapi.json is committed for callers' client generators; tests/test_openapi_file.py fails when
# it is stale. Sandbox mode, and an I'mport URL that only keeps create_app from starting a
# sandbox: nothing is called.
openapi: $(INSTALLED)
	PYTHONUTF8=1 BILLING_SANDBOX=true IAMPORT_API_URL=http://127.0.0.1:9 FLASK_APP=billing_service.app:create_app \
		$(BIN)/flask openapi write --format=json openapi.json

# The benchmark of issue 5 (a report, not a test: it always exits 0). Both I'mport latencies by
# default; `make bench LATENCY_MS=0` runs one. Figures and py-spy's raw stacks land in
# test-output/bench/. Other options: `$(BIN)/python -m bench --help`.
bench: $(INSTALLED)
	$(BIN)/python -m bench $(if $(LATENCY_MS),--latency-ms $(LATENCY_MS)) $(BENCH_ARGS)
