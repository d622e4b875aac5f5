"""The embedded default policy (BRIEF §6): tokenizer, Qwen3 presets, loader, SFT, generation, evaluation.

No model hub is reachable, so the project trains its own tokenizer on task text and builds small
Qwen3-architecture models from config presets; real checkpoints load through the same ``load_policy``.

- :mod:`.tokenizer`  byte-level BPE trained on Countdown and OR-Debug text, ChatML chat template
- :mod:`.presets`    ``tiny`` / ``small`` / ``base`` Qwen3 configs built from scratch
- :mod:`.loader`     ``load_policy(model_name_or_path, lora=..., device=...)``
- :mod:`.sft`        TRL ``SFTTrainer`` warm start (completion-only / assistant-only loss)
- :mod:`.generation` batched generation that stops at EOS
- :mod:`.decoding`   sampling settings, EOS ids and one ``model.generate`` call over token ids (under both
                     ``.generation`` and the engines of :mod:`.engine`)
- :mod:`.countdown_eval`     Countdown accuracy, correct / partial / failed, output tokens
- :mod:`.ordebug_episodes`   expert transcripts for SFT; batched multi-turn OR-Debug evaluation (its parts:
                             :mod:`.ordebug_experts`, :mod:`.ordebug_recovery`, :mod:`.ordebug_lm_eval`)
"""
