# The two commands of the README:
#   make demo   embedded broker + worker + a synthetic stream with injected drift
#   make test   the whole test suite (embedded broker, then Apache Kafka for integration and e2e)
# Everything they need is installed by scripts/bootstrap into .venv.

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast test-apache venv lint bench clean dashboard-images

venv: $(STAMP)

$(STAMP): pyproject.toml scripts/bootstrap
	scripts/bootstrap $(VENV)
	touch $(STAMP)

demo: venv
	$(VENV)/bin/driftline demo

test: venv
	scripts/test

test-fast: venv
	$(PY) -m pytest -q

test-apache: venv
	DRIFTLINE_TEST_KAFKA=apache $(PY) -m pytest -q -m "integration or e2e"

# docs/img/dashboard-*.png: the Grafana dashboards' panels on a drifting stream, drawn without Grafana
# (embedded broker, worker, Prometheus and deploy/demo_producer.py for about two and a half minutes).
dashboard-images: venv
	$(PY) scripts/render-dashboards --out docs/img

lint: venv
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
