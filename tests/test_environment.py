"""environment.yml (conda) installs what pyproject.toml and constraints.txt say."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_conda_python_satisfies_requires_python():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = next(d for d in _environment()["dependencies"] if str(d).startswith("python="))
    assert project["requires-python"] == ">=3.11"
    assert python == "python=3.11"


def test_conda_installs_the_project_with_the_pinned_constraints():
    pip = next(d["pip"] for d in _environment()["dependencies"] if isinstance(d, dict))
    assert pip == ["-c constraints.txt", "-e .[dev]"]
    assert (ROOT / "constraints.txt").is_file()


def test_every_dependency_is_pinned_in_constraints():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in wanted}
    assert names <= pinned, f"not pinned in constraints.txt: {sorted(names - pinned)}"
