"""pyproject.toml is the single source of truth; environment.yml mirrors it; key pins hold."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!\[ ;]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {_name(d) for d in deps} == {_name(p) for p in pip if not p.startswith("-e")}
    assert "-e .[dev]" in pip
    assert "python=3.11" in env["dependencies"]


def test_pins():
    deps = {_name(d): d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert deps["trl"] == "trl==1.16.0"
    assert deps["torch"] == "torch>=2.11"  # a range: the GPU machine has torch 2.11
    assert deps["transformers"] == "transformers>=5.17,<6"
    assert deps["gurobipy"].startswith("gurobipy>=13.0")


def test_ci_calls_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci.splitlines()[-1]
    assert "make test" in readme and "make paper" in readme
