"""Every committed notebook: outputs stripped, one literal-only `parameters` cell, pinned kernel,
declared artifacts, and every params/<notebook>/<profile>.yaml key known to the notebook (its extends chain merged)."""
import ast
from pathlib import Path

import nbformat
import papermill
import pytest

from ordebug_lib.run import load_params

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert any(p.stem == "00_environment_check" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_stripped(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_literal_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: exactly one cell must be tagged 'parameters'"
    names = []
    for stmt in ast.parse(tagged[0].source).body:
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name), \
            f"{path.name}: parameters cell may only hold `name = literal` lines"
        ast.literal_eval(stmt.value)  # raises on anything that is not a literal
        names.append(stmt.targets[0].id)
    assert "run_dir" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_kernel_and_artifacts_declared(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "ordebug"
    assert nb.metadata["ordebug"]["artifacts"], f"{path.name}: declare metadata.ordebug.artifacts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_profiles_exist_and_use_known_parameters(path):
    declared = set(papermill.inspect_notebook(str(path)))
    profiles = sorted((ROOT / "params" / path.stem).glob("*.yaml"))
    assert {"smoke", "gpu"} <= {p.stem for p in profiles}, f"{path.stem}: needs smoke and gpu profiles"
    for prof in profiles:
        keys = set(load_params(path.stem, prof.stem, ROOT))
        assert keys <= declared, f"{prof}: unknown keys {keys - declared}"
        assert "run_dir" not in keys, f"{prof}: run_dir is set by the runner"
