"""The cuDNN SDPA switch of ``policy/attention.py`` and its GPU probe (``benchmarks/sdpa_cudnn_probe.py``)."""
import importlib.util
from pathlib import Path

import pytest
import torch

from ordebug_lib.policy.attention import training_attention

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cudnn_flag():
    before = torch.backends.cuda.cudnn_sdp_enabled()
    yield
    torch.backends.cuda.enable_cudnn_sdp(before)


def test_cuda_turns_the_cudnn_backend_off(cudnn_flag):
    torch.backends.cuda.enable_cudnn_sdp(True)
    assert training_attention(cuda=True) == {"sdpa_cudnn": "disabled (pytorch#196678)"}
    assert torch.backends.cuda.cudnn_sdp_enabled() is False
    assert training_attention(cuda=True) == {"sdpa_cudnn": "already disabled"}


def test_cpu_leaves_the_switch_alone(cudnn_flag):
    torch.backends.cuda.enable_cudnn_sdp(True)
    assert training_attention(cuda=False) == {"sdpa_cudnn": "not used (no CUDA)"}
    assert torch.backends.cuda.cudnn_sdp_enabled() is True


def test_grpo_trainer_records_what_it_did(tmp_path):
    from tiny_lm import make_tiny_lm, tiny_countdown_trainer

    tr, _ = tiny_countdown_trainer(make_tiny_lm(tmp_path / "lm"), tmp_path / "run", l_max=4)
    assert tr.attention == training_attention(cuda=torch.cuda.is_available())


def test_probe_runs_on_cpu(tmp_path):
    spec = importlib.util.spec_from_file_location("probe", ROOT / "benchmarks" / "sdpa_cudnn_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    rows = probe.main(["--device", "cpu", "--preset", "tiny", "--lengths", "192", "256", "--out",
                       str(tmp_path / "p.json")])
    policy = [r for r in rows if r["case"] == "policy"]
    assert [(r["length"], r["length_mod_128"]) for r in policy] == [(192, 64), (256, 0)]
    assert all(r["loss_finite"] and r["nonfinite_parameters"] == 0 and r["parameters"] > 0 for r in policy)
    (only,) = [r for r in rows if r["case"] == "torch_only"]
    assert only["nonfinite_grad_q"] == 0 and only["grad_q_entries"] == 704 * 64
    assert (tmp_path / "p.json").exists()
