# Two commands do everything on a fresh clone: `make report` and `make test`.
# Each creates .venv and installs the project with the pinned versions first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_FLAGS ?=
# Three workers on two cores: much of the suite waits on kernels and child processes
# (measured on a 2-core machine, three finish sooner than two or four).
PYTEST_WORKERS ?= 3
CHROMIUM ?= $(or $(CALHOUSING_CHROMIUM),/usr/bin/chromium)
LAB_FLAGS ?=

.PHONY: report test unit-test notebook-test lint format strip constraints clean lab

report: $(STAMP)  ## run the pipeline with its defaults and render reports/report.html
	$(BIN)/calhousing run

test: $(STAMP)  ## every test: unit tests, and beside them the notebooks with nbmake
	@scratch=$$(mktemp -d) || exit 1; trap 'rm -rf "$$scratch"' EXIT; \
	  (CALHOUSING_ARTIFACTS_DIR="$$scratch/artifacts" $(BIN)/pytest --nbmake $(PYTEST_FLAGS) notebooks \
	    > "$$scratch/notebooks.log" 2>&1) & notebooks=$$!; \
	  status=0; CALHOUSING_CHROMIUM="$(CHROMIUM)" $(BIN)/pytest -W error::RuntimeWarning -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_FLAGS) tests || status=$$?; \
	  if [ ! -x "$(CHROMIUM)" ]; then \
	    echo "make test: the browser tests of the report were SKIPPED: no Chromium at $(CHROMIUM)."; \
	    echo "make test: to run them, install it (apt-get install chromium) and run make test again."; \
	  fi; \
	  wait $$notebooks || status=$$?; \
	  echo "make test: the notebooks, run top to bottom with nbmake beside the unit tests:"; \
	  cat "$$scratch/notebooks.log"; \
	  exit $$status

lint: $(STAMP)  ## ruff over the library and tests, and a check that notebooks have no outputs
	$(BIN)/ruff check lib tests
	$(BIN)/ruff format --check lib tests
	$(BIN)/nbstripout --keep-id --verify notebooks/*.ipynb

format: $(STAMP)
	$(BIN)/ruff format lib tests
	$(BIN)/ruff check --fix lib tests

lab: $(STAMP)  ## JupyterLab on notebooks/, its kernel this project's .venv (LAB_FLAGS="--no-browser --port=8899")
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_FLAGS)

strip: $(STAMP)  ## remove outputs from the notebooks before committing
	$(BIN)/nbstripout --keep-id notebooks/*.ipynb

constraints: $(STAMP)  ## re-pin constraints.txt to what .venv holds
	{ head -n 2 constraints.txt; $(BIN)/pip freeze --exclude-editable; } > constraints.tmp
	mv constraints.tmp constraints.txt

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) artifacts reports/executed reports/report.html

# The container and the CI workflow: README's `make container-test`, run by .ci/run.
.PHONY: container-test lint-ci

container-test:  ## build the image, run the pipeline in it (docker, else podman), check outputs and bad input
	bash tests/container/run.sh

lint-ci: $(STAMP)  ## hadolint over the Dockerfile, actionlint over .github/workflows, shellcheck over scripts
	bash tests/container/lint.sh $(BIN)
