"""One loader for every policy: a preset built from scratch, a local checkpoint, or a cached hub id.

``load_policy(model_name_or_path, lora=None, device="cpu")`` resolves its argument in this order:

1. a preset name (``tiny``, ``small``, ``base``): a fresh, seeded Qwen3 with the project tokenizer;
2. an existing local directory: ``from_pretrained`` of the model and of the tokenizer saved beside it;
   a directory holding a PEFT adapter (``adapter_config.json``) loads its base model first (resolved the
   same way), then the adapter;
3. anything else is a hub id, loaded with ``local_files_only=True``: it works only if the user has
   it in the local Hugging Face cache; otherwise a clear error says so (nothing is ever downloaded).

:func:`check_source` makes the same checks without loading any weights (and loads only the tokenizer, to
refuse one without an EOS token), so a command can refuse a bad path before its work starts.

``lora`` (a ``peft.LoraConfig`` or a dict of its fields) wraps the model with fresh LoRA adapters: only
the adapter weights are trainable. Defaults for a dict: ``task_type="CAUSAL_LM"`` and every linear
projection of a Qwen3 block as target.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .presets import PRESETS, build_model
from .tokenizer import project_tokenizer

QWEN3_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16"}


@dataclass
class LoadedPolicy:
    """A model with its tokenizer and where they came from."""

    model: Any
    """``Qwen3ForCausalLM`` (or any causal LM), wrapped in a ``PeftModel`` when LoRA is on."""
    tokenizer: Any
    """The tokenizer saved with the model (the project tokenizer for presets)."""
    source: str
    """'preset', 'local', 'adapter' or 'hub'."""
    name: str
    """The ``model_name_or_path`` it was loaded from."""

    def __iter__(self):  # model, tokenizer = load_policy(...)
        return iter((self.model, self.tokenizer))

    def save(self, path: str | Path) -> Path:
        """``save_pretrained`` the model (or its adapter) and the tokenizer into ``path``."""
        if self.source == "preset" and hasattr(self.model, "peft_config"):
            raise ValueError("LoRA adapters on a freshly built preset cannot be reloaded (their base is random); "
                             "merge them first (model.merge_and_unload()) or train the preset without LoRA")
        path = Path(path)
        self.model.save_pretrained(str(path))
        self.tokenizer.save_pretrained(str(path))
        return path


def resolve_device(device: str) -> str:
    """'cpu', 'cuda', 'cuda:N', or 'auto' (cuda when available, else cpu)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return device


def _torch_dtype(dtype: str | None):
    import torch

    if dtype is None:
        return torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)} or None, got {dtype!r}")
    return getattr(torch, DTYPES[dtype])


def lora_config(lora) -> Any:
    """A ``peft.LoraConfig`` from a LoraConfig or a dict of its fields (with Qwen3 defaults)."""
    from peft import LoraConfig

    if isinstance(lora, LoraConfig):
        return lora
    if not isinstance(lora, dict):
        raise TypeError(f"lora must be a peft.LoraConfig or a dict of its fields, got {type(lora).__name__}")
    kwargs = {"task_type": "CAUSAL_LM", "target_modules": list(QWEN3_LORA_TARGETS), **lora}
    return LoraConfig(**kwargs)


def check_special_tokens(tokenizer, name: str) -> None:
    """Refuse a tokenizer without an EOS token (ValueError): generation stops on it (``generation.py``,
    ``training/rollouts.py``) and SFT records end with it. A missing pad token is not an error: the loader
    pads with EOS."""
    if tokenizer.eos_token is None:
        what = "neither a pad nor an EOS token" if tokenizer.pad_token is None else "no EOS token"
        raise ValueError(f"the tokenizer of {name!r} has {what}: generation could not stop and SFT records could "
                         "not end; save the tokenizer with an eos_token (e.g. tokenizer.eos_token = '<|endoftext|>')")


def _ensure_pad(tokenizer, name: str) -> None:
    check_special_tokens(tokenizer, name)
    if tokenizer.pad_token is None:
        warnings.warn(f"the tokenizer of {name!r} has no pad token; using its EOS token {tokenizer.eos_token!r}")
        tokenizer.pad_token = tokenizer.eos_token


def _adapter_base(path: Path) -> str:
    """The base model an adapter directory names (``base_model_name_or_path``); ValueError if none."""
    config = path / "adapter_config.json"
    try:
        base = json.loads(config.read_text()).get("base_model_name_or_path")
    except (json.JSONDecodeError, AttributeError):
        raise ValueError(f"{config} is not a JSON object of adapter settings") from None
    if not base:
        raise ValueError(f"{config} names no base_model_name_or_path: a LoRA adapter cannot be loaded without its "
                         "base model")
    return base


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or "\\" in name  # hub ids are "org/name", never these


def check_source(model_name_or_path: str | Path, tokenizer: bool = True) -> str:
    """Where :func:`load_policy` would load ``model_name_or_path`` from ('preset', 'local', 'adapter' or
    'hub'), checked without loading any weights, so a command can refuse a bad path before it starts:

    - a path that does not exist, a directory without ``config.json`` or without a tokenizer, a file:
      FileNotFoundError / NotADirectoryError (``load_policy``'s messages);
    - an adapter directory whose ``adapter_config.json`` names no base, or a base that is itself not
      loadable: ValueError / FileNotFoundError naming the adapter and its base;
    - a hub id that is not in the local Hugging Face cache: FileNotFoundError;
    - ``tokenizer=True``: the tokenizer of a local checkpoint is loaded (no model) and one without an EOS
      token is refused (:func:`check_special_tokens`).

    Example: ``check_source("tiny") == "preset"``.
    """
    name = str(model_name_or_path)
    path = Path(name).expanduser()
    if name in PRESETS:
        return "preset"
    if path.is_dir() and (path / "adapter_config.json").exists():
        base = _adapter_base(path)
        own_tokenizer = (path / "tokenizer_config.json").exists()
        try:
            check_source(base, tokenizer=tokenizer and not own_tokenizer)
        except (FileNotFoundError, NotADirectoryError, ValueError) as e:
            raise type(e)(f"{path} is a LoRA adapter whose base model {base!r} cannot be loaded: {e}") from None
        if tokenizer and own_tokenizer:
            check_special_tokens(_load_tokenizer(path), name)
        return "adapter"
    if path.is_dir():
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path} is a directory but holds no config.json (not a saved model)")
        if not (path / "tokenizer_config.json").exists():
            raise FileNotFoundError(f"{path} holds a model but no tokenizer; save the tokenizer beside the model")
        if tokenizer:
            check_special_tokens(_load_tokenizer(path), name)
        return "local"
    if path.exists():
        raise NotADirectoryError(f"{path} is a file; give the directory a model was saved to")
    if _looks_like_path(name):
        raise FileNotFoundError(f"{path} does not exist (not a preset ({', '.join(PRESETS)}) and not a saved model)")
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(name, "config.json")
    except ValueError:  # not a valid repo id (huggingface_hub's HFValidationError)
        cached = None
    if not isinstance(cached, str):
        raise FileNotFoundError(
            f"{name!r} is not a preset ({', '.join(PRESETS)}), not a local directory, and not a hub id in the local "
            "Hugging Face cache; no network is used. Download it where you have access and pass its path, or "
            "populate the cache.")
    return "hub"


def context_length(model_name_or_path: str | Path) -> int | None:
    """The context (``max_position_embeddings``) of a preset or a local checkpoint's ``config.json``; None
    when it is not known without loading (a hub id, an adapter, a config without the field).

    Example: ``context_length("tiny") == 4096``.
    """
    name = str(model_name_or_path)
    if name in PRESETS:
        return PRESETS[name].max_position_embeddings
    config = Path(name).expanduser() / "config.json"
    if config.is_file():
        value = json.loads(config.read_text()).get("max_position_embeddings")
        return value if isinstance(value, int) else None
    return None


def _from_pretrained(name: str, dtype, local_files_only: bool):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_files_only)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype, local_files_only=local_files_only)
    except OSError as e:
        if local_files_only:
            raise FileNotFoundError(
                f"{name!r} is not a preset ({', '.join(PRESETS)}), not a local directory, and not a hub id in the "
                f"local Hugging Face cache; no network is used. Download it where you have access and pass its "
                f"path, or populate the cache. ({e})") from None
        raise
    return model, tokenizer


def load_policy(model_name_or_path: str | Path, lora=None, device: str = "cpu", dtype: str | None = None,
                seed: int = 0, trainable: bool = True) -> LoadedPolicy:
    """Load a policy (see the module docstring). ``dtype``: None (fp32), 'bfloat16', 'float16'.

    ``trainable=False`` puts the model in eval mode with gradients off (for evaluation only).
    """
    name = str(model_name_or_path)
    torch_dtype = _torch_dtype(dtype)
    path = Path(name).expanduser()
    if name in PRESETS:
        tokenizer = project_tokenizer()
        model = build_model(name, tokenizer, seed=seed).to(torch_dtype)
        source = "preset"
    elif path.is_dir() and (path / "adapter_config.json").exists():
        if lora is not None:
            raise ValueError(f"{path} already holds a LoRA adapter; merge it first or load it without `lora`")
        from peft import PeftModel

        base_name = _adapter_base(path)
        try:
            base = load_policy(base_name, device="cpu", dtype=dtype, seed=seed)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise type(e)(f"{path} is a LoRA adapter whose base model {base_name!r} cannot be loaded: {e}") from None
        tokenizer = _load_tokenizer(path) if (path / "tokenizer_config.json").exists() else base.tokenizer
        model = PeftModel.from_pretrained(base.model, str(path), is_trainable=trainable)
        source = "adapter"
    elif path.is_dir():
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path} is a directory but holds no config.json (not a saved model)")
        if not (path / "tokenizer_config.json").exists():
            raise FileNotFoundError(f"{path} holds a model but no tokenizer; save the tokenizer beside the model")
        model, tokenizer = _from_pretrained(str(path), torch_dtype, local_files_only=True)
        source = "local"
    elif path.exists():
        raise NotADirectoryError(f"{path} is a file; give the directory a model was saved to")
    else:
        model, tokenizer = _from_pretrained(name, torch_dtype, local_files_only=True)
        source = "hub"
    _ensure_pad(tokenizer, name)
    if lora is not None:
        from peft import get_peft_model

        model = get_peft_model(model, lora_config(lora))
    model = model.to(resolve_device(device))
    if not trainable:
        model.eval()
        model.requires_grad_(False)
    return LoadedPolicy(model, tokenizer, source, name)


def _load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def trainable_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
