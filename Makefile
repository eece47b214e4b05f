# Tunedesk: `make demo` runs the app with demo data, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export TUNEDESK_DATA_DIR ?= $(CURDIR)/var
# BROWSER=no leaves the browser tests out (pytest reports them as deselected) on a machine
# that cannot install chromium.
BROWSER ?= yes

.PHONY: install demo tune-demo test messages lint format clean

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch goes first and pinned: the CPU build on this disk; a later package must not replace it.
$(STAMP): requirements.txt requirements-nodeps.txt | $(PY)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

install: $(STAMP) messages

# Compiled catalogues are build output (.mo files are ignored by git).
messages: | $(STAMP)
	.ci/system-deps gettext
	$(PY) manage.py compilemessages -v0 --ignore '.venv/*'

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Installs chromium and CJK fonts first when missing (as root), as .ci/run does; otherwise
# stops and says how, or to use BROWSER=no.
test: install
ifeq ($(BROWSER),no)
	$(PY) -m pytest -m "not browser" $(PYTEST_ARGS)
else
	.ci/system-deps chromium fonts-noto-cjk
	$(PY) -m pytest $(PYTEST_ARGS)
endif

demo: install
	$(PY) manage.py migrate -v0
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py setup_demo
	$(PY) manage.py run_demo

# Train on the demo project's accepted records (plus 10 % general replay rows) and compare base
# (long prompt) with tuned (short prompt) on the whole test split and the forgetting probe;
# prints the figures that decide whether the model ships. Defaults: tune_and_compare.DEMO_CONFIG.
tune-demo: install
	$(PY) manage.py migrate -v0
	$(PY) manage.py setup_demo --no-drafts
	$(PY) manage.py tune_and_compare

clean:
	rm -rf $(VENV) var
