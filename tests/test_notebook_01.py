"""Notebook 01_normalization_math runs through the runner (smoke profile) and its numbers are right."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NB = "01_normalization_math"


@pytest.mark.slow
def test_notebook_01_smoke(tmp_path):
    # a throw-away project root holding only this notebook and its params, so the run stays out of the repo
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / f"{NB}.ipynb", tmp_path / "notebooks")
    shutil.copytree(ROOT / "params" / NB, tmp_path / "params" / NB)
    cmd = [sys.executable, "-m", "ordebug_lib.run", NB, "--profile", "smoke", "--run-id", "t", "--root", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = tmp_path / "runs" / NB / "smoke" / "t"
    m = json.loads((run / "metrics.json").read_text())
    assert (run / "figures" / "token_weight_vs_length.pdf").exists()
    assert (run / "reports" / "advantages.md").exists()

    B, G = m["batch_size"], m["group_size"]
    assert (B, G) == (8, 8)  # params/01_normalization_math/smoke.yaml
    assert set(m["weights"]) == {"256", "1024"}
    for key, w in m["weights"].items():
        L_max = int(key)
        # DR-GRPO: every token weighs 1/(B·L_max): 1/2048 at 256, 1/8192 at 1024
        assert w["dr_grpo_token_weight"] == pytest.approx(1 / (B * L_max), rel=1e-12)
        # GRPO: 1/(B·L_i) for each completion length L_i
        assert w["grpo_token_weight"] == pytest.approx([1 / (B * L) for L in w["lengths"]], rel=1e-12)
        # DAPO: 1/Σ L_i
        assert w["dapo_token_weight"] == pytest.approx(1 / sum(w["lengths"]), rel=1e-12)
        # hybrid α = min(1, L_max/512): 0.5 at 256, 1 at 1024; weight α/(B·L_max) + (1−α)/(B·L_i)
        a = min(1.0, L_max / 512)
        assert w["hybrid_alpha"] == a
        assert w["hybrid_token_weight"] == pytest.approx(
            [a / (B * L_max) + (1 - a) / (B * L) for L in w["lengths"]], rel=1e-12)
        assert w["lengths"][0] == 1 and w["lengths"][-1] == L_max and len(w["lengths"]) == B
        # gradient scale of B completions of length ℓ = min(217, L_max): Σ weights·ℓ = 1 for GRPO and DAPO,
        # ℓ/L_max for DR-GRPO (217/256 = 0.8477, 217/1024 = 0.2119), α·ℓ/L_max + (1 − α) for hybrid
        ell = w["gradient_scale_length"]
        assert ell == min(217, L_max)
        g = w["gradient_scale"]
        assert g["grpo"] == pytest.approx(1.0) and g["dapo"] == pytest.approx(1.0)
        assert g["dr_grpo"] == pytest.approx(ell / L_max)
        assert g["hybrid"] == pytest.approx(a * ell / L_max + (1 - a))

    adv = m["advantages"]
    # all-equal group: exactly 0 for GRPO / Dr. GRPO / DGRO, not for KRPO; dropped by dynamic sampling
    for method in ("grpo", "dr_grpo", "dgro"):
        assert adv["all equal (0.1)"][method] == [0.0] * G
    assert all(a > 0 for a in adv["all equal (0.1)"]["krpo"])
    assert m["kept_by_dynamic_sampling"]["all equal (0.1)"] is False
    assert m["kept_by_dynamic_sampling"]["one success"] is True
    # one success in 8: Dr. GRPO = r − 1/8 → [0.875, −0.125 × 7]
    assert adv["one success"]["dr_grpo"] == pytest.approx([0.875] + [-0.125] * 7)
    # GRPO: unbiased std of [1, 0×7] = sqrt((0.765625 + 7·0.015625)/7) = sqrt(0.125) = 0.3535534
    s = 0.125 ** 0.5 + 1e-4
    assert adv["one success"]["grpo"] == pytest.approx([0.875 / s] + [-0.125 / s] * 7)
    # GRPO is scale-free: one 0.3 among 0.1 gets the same advantages as one 1 among 0, up to ε:
    # 0.175/(0.0707107 + 1e-4) = 2.47138 vs 0.875/(0.3535534 + 1e-4) = 2.47417
    assert adv["one 0.3 among 0.1"]["grpo"][0] == pytest.approx(0.175 / (0.2 * 0.125 ** 0.5 + 1e-4))
    assert adv["one 0.3 among 0.1"]["grpo"] == pytest.approx(adv["one success"]["grpo"], rel=2e-3)
    # Dr. GRPO keeps the scale: 0.3 − 0.125 = 0.175
    assert adv["one 0.3 among 0.1"]["dr_grpo"][0] == pytest.approx(0.175)
