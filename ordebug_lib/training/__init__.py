"""GRPO-family training on TRL 1.16: our advantages and losses, DAPO knobs, multi-turn OR-Debug rollouts.

- :mod:`.config`    ``GRPORunConfig``: every knob, each citing its paper; ``to_grpo_config``
- :mod:`.trainer`   ``OrdebugGRPOTrainer``: advantage override, hybrid loss, dynamic sampling
- :mod:`.sampling`  dynamic-sampling bookkeeping (select / merge scored batches, refill prompts)
- :mod:`.rollouts`  multi-turn OR-Debug episodes as TRL ``rollout_func`` (env tokens masked)
- :mod:`.logging`   per-step ``metrics.jsonl`` / ``metrics.csv`` in the run directory
- :mod:`.run`       ``build_countdown_trainer`` / ``build_ordebug_trainer`` / ``train_*``
"""
from .config import GRPORunConfig

__all__ = ["GRPORunConfig"]
