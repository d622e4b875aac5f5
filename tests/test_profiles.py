"""Profiles as deltas (``extends``, ordebug_lib.profiles): the merge rules on throwaway profiles, and the proof that
turning the committed profiles into deltas moved no parameter (tests/data/profiles_before.json: every profile's
parameters as loaded before the conversion, read under today's names by ``renamed``; a deliberate change of a profile
updates that file in its commit). 03_sft's profiles left it when 03_sft was split in two:
tests/test_experiments_sft.py checks the new notebooks' profiles against the settings 03_sft ran them with
(tests/data/sft_profiles_before.json)."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from ordebug_lib.run import ROOT, RunError, load_params, run_notebook


def renamed(params: dict) -> dict:
    """``params`` under today's names: the episode budget became max_turns (issue 18), in the parameters and in
    ``warm_start_config``; optimizer steps (``grpo.max_steps``, ``sft.max_steps``) keep their name."""
    out = {("max_turns" if k == "max_steps" else k): v for k, v in params.items()}
    if isinstance(out.get("warm_start_config"), dict):
        out["warm_start_config"] = renamed(out["warm_start_config"])
    return out


BEFORE = {k: renamed(v) for k, v in
          json.loads((Path(__file__).parent / "data" / "profiles_before.json").read_text()).items()}


def write(root: Path, notebook: str, profile: str, text: str) -> None:
    folder = root / "params" / notebook
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{profile}.yaml").write_text(text)


def test_a_delta_replaces_its_parents_keys_and_extends_never_reaches_the_notebook(tmp_path):
    write(tmp_path, "nb", "gpu", "lr: 0.1\nsteps: 12\nlens: [128, 256]\nname: gpu\n")
    write(tmp_path, "nb", "cpu", "extends: gpu\nsteps: 2\nlens: [32]\nseed: null\n")
    write(tmp_path, "nb", "tiny", "extends: cpu  # a delta of a delta\nlr: 1e-3\n")
    assert load_params("nb", "cpu", tmp_path) == {"lr": 0.1, "steps": 2, "lens": [32], "name": "gpu", "seed": None}
    assert load_params("nb", "tiny", tmp_path) == {"lr": 0.001, "steps": 2, "lens": [32], "name": "gpu", "seed": None}
    assert load_params("nb", "gpu", tmp_path) == {"lr": 0.1, "steps": 12, "lens": [128, 256], "name": "gpu"}


def test_mappings_merge_key_by_key_at_every_depth_unless_tagged_replace(tmp_path):
    write(tmp_path, "nb", "gpu", "grpo: {beta: 0.04, steps: 12, lr: 5e-5}\n"
                                 "ws: {model: small, sft: {max_steps: 600, lr: 0.001}, experts: [a, b]}\n"
                                 "dgro: {dgro: {b1: 1.0}, seeds: {beta: 0.001}}\n")
    write(tmp_path, "nb", "cpu", "extends: gpu\ngrpo: {steps: 2}\nws: {sft: {max_steps: 6}, experts: [c]}\n"
                                 "dgro: !replace {dgro: {b1: 2.0}}\n")
    got = load_params("nb", "cpu", tmp_path)
    assert got == {"grpo": {"beta": 0.04, "steps": 2, "lr": 5e-5},
                   "ws": {"model": "small", "sft": {"max_steps": 6, "lr": 0.001}, "experts": ["c"]},
                   "dgro": {"dgro": {"b1": 2.0}}}
    assert type(got["dgro"]) is dict  # what reaches the notebook and JSON is a plain mapping
    write(tmp_path, "nb", "root", "grpo: !replace {beta: 0.1}\n")  # !replace without a parent: just the mapping
    assert load_params("nb", "root", tmp_path) == {"grpo": {"beta": 0.1}}
    write(tmp_path, "nb", "bad", "extends: gpu\nlens: !replace [1, 2]\n")
    with pytest.raises(RunError, match="!replace is for mappings"):
        load_params("nb", "bad", tmp_path)


def test_a_parent_in_another_notebooks_folder(tmp_path):
    write(tmp_path, "20_e3", "gpu", "arms: [sft, grpo]\ngrpo: {lr: 5e-5, steps: 12}\nparallel: 2\n")
    write(tmp_path, "21_e4", "gpu", "extends: 20_e3/gpu\narms: [sft, dgro]\ngrpo: {num_iterations: 2}\n")
    assert load_params("21_e4", "gpu", tmp_path) == {"arms": ["sft", "dgro"], "parallel": 2,
                                                    "grpo": {"lr": 5e-5, "steps": 12, "num_iterations": 2}}


def test_a_cycle_a_missing_parent_and_a_bad_name_are_clear_errors(tmp_path):
    write(tmp_path, "nb", "a", "extends: b\nx: 1\n")
    write(tmp_path, "nb", "b", "extends: c\n")
    write(tmp_path, "nb", "c", "extends: a\n")
    with pytest.raises(RunError, match=r"extends makes a cycle: nb/a -> nb/b -> nb/c -> nb/a"):
        load_params("nb", "a", tmp_path)
    write(tmp_path, "nb", "self", "extends: self\n")
    with pytest.raises(RunError, match="cycle: nb/self -> nb/self"):
        load_params("nb", "self", tmp_path)
    write(tmp_path, "nb", "orphan", "extends: gpux\nx: 1\n")
    with pytest.raises(RunError, match=r"orphan.yaml: extends 'gpux', but there is no .*gpux.yaml; profiles there: "
                                       r"\['a', 'b', 'c', 'orphan', 'self'\]"):
        load_params("nb", "orphan", tmp_path)
    write(tmp_path, "nb", "far", "extends: nope/gpu\n")
    with pytest.raises(RunError, match="extends 'gpu', but there is no .*nope/gpu.yaml; profiles there: none"):
        load_params("nb", "far", tmp_path)
    for bad in ("../nb/a", "a.yaml", "[a]", "null", "a/b/c"):
        write(tmp_path, "nb", "bad", f"extends: {bad}\n")
        with pytest.raises(RunError, match="extends must name a profile"):
            load_params("nb", "bad", tmp_path)
    write(tmp_path, "nb", "list", "extends: a\n")
    write(tmp_path, "nb", "a", "- 1\n- 2\n")
    with pytest.raises(RunError, match="a.yaml must hold a mapping"):
        load_params("nb", "list", tmp_path)


def project(tmp_path: Path, body: str = "") -> Path:
    """A project whose notebook ``nb`` declares ``run_dir``, ``x`` and ``cfg`` and writes what it got to got.json."""
    nb = new_notebook()
    nb.metadata = {"kernelspec": {"name": "ordebug", "display_name": "Python (ordebug)", "language": "python"},
                   "ordebug": {"artifacts": []}}
    cell = new_code_cell('run_dir = "scratch"\nx = 1\ncfg = {"a": 1, "b": 2}')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, new_code_cell(body or "import json, pathlib\n"
                                    "pathlib.Path(run_dir, 'got.json').write_text(json.dumps({'x': x, 'cfg': cfg}))")]
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "nb.ipynb")
    return tmp_path


def test_unknown_keys_are_refused_on_the_merged_parameters(tmp_path):
    root = project(tmp_path)
    write(root, "nb", "gpu", "x: 2\nbogus: 1\n")
    write(root, "nb", "smoke", "extends: gpu\nx: 3\n")
    with pytest.raises(RunError, match=r"unknown parameter\(s\) \['bogus'\] for notebook nb"):
        run_notebook("nb", "smoke", root=root)


def test_the_notebook_and_the_provenance_get_the_merged_parameters(tmp_path):
    root = project(tmp_path)
    write(root, "nb", "gpu", "x: 2\ncfg: {a: 10, b: 20}\n")
    write(root, "nb", "smoke", "extends: gpu\ncfg: {b: 5}\n")
    r = subprocess.run([sys.executable, "-m", "ordebug_lib.run", "nb", "--profile", "smoke", "--root", str(root)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (run,) = (root / "runs" / "nb" / "smoke").iterdir()
    assert json.loads((run / "got.json").read_text()) == {"x": 2, "cfg": {"a": 10, "b": 5}}
    for recorded in (json.loads((run / "provenance.json").read_text())["parameters"],
                     json.loads((run / "params.json").read_text())):
        assert recorded == {"x": 2, "cfg": {"a": 10, "b": 5}, "run_dir": str(run.resolve())}


def test_the_countdown_sft_command_reads_a_delta(tmp_path):
    from ordebug_lib.policy.countdown_sft import prepare_cli

    (tmp_path / "gpu.yaml").write_text("warm_start_config: {model: tiny, steps: 40, n_demos: 64}\n")
    (tmp_path / "cpu.yaml").write_text("extends: gpu\nwarm_start_config: {steps: 4}\n")
    config = prepare_cli(tmp_path / "cpu.yaml", "warm_start_config", tmp_path / "ws", "cpu")
    assert (config.model, config.steps, config.n_demos) == ("tiny", 4, 64)


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_the_conversion_to_deltas_moved_no_parameter(name):
    """Each profile loads to the parameters it had before the profiles became deltas, types included (1 vs 1.0)."""
    stem, profile = name.split("/")
    assert json.dumps(load_params(stem, profile), sort_keys=True) == json.dumps(BEFORE[name], sort_keys=True)
