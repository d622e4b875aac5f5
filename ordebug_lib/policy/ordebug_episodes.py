"""OR-Debug as conversations: expert transcripts for SFT, recovery demonstrations, and batched multi-turn
evaluation of an LM.

An episode is a chat: the user turns are the environment's observations, the assistant turns are actions
wrapped in ``<action>...</action>``, with the env settings of ``episode_env_config`` for SFT demos and
evaluation alike. The three parts live beside this module, and every name it had is importable from here:

====================  =========================================================================================
``ordebug_experts``   the format (``episode_env_config``, ``action_message``), the experts (``EXPERTS``,
                      ``make_expert``) and their transcripts (``Transcript``, ``expert_transcript``), the SFT
                      demonstrations among them (``keep_demo``, ``kept_demos``)
``ordebug_recovery``  recovery demonstrations (``recovery_transcripts``, ``RECOVERY_KINDS``): a plausible mistake,
                      then the expert's continuation; a mistake never carries the answer
``ordebug_lm_eval``   LM episodes in lockstep batches (``run_lm_episodes``, ``LMEpisode``, ``fit_context``),
                      their evaluation into the results store (``evaluate_lm``) and failure analysis
                      (``action_profile``, ``profile_summary``)
====================  =========================================================================================
"""
from __future__ import annotations

from .ordebug_experts import (EXPERTS, RECOVERING_EXPERTS, DiagnoseThenOracle, Transcript, action_message,
                              episode_env_config, expert_transcript, expert_transcripts, keep_demo, kept_demos,
                              make_expert)
from .ordebug_lm_eval import (CONTEXT_POLICIES, LMEpisode, action_profile, evaluate_lm, fit_context, profile_summary,
                              run_lm_episodes, turn_prompts)
from .ordebug_recovery import RECOVERY_KINDS, RECOVERY_PREFIX, recovery_transcripts, without_recoveries

__all__ = [  # the names of its parts, in the order of the module docstring
    "EXPERTS", "RECOVERING_EXPERTS", "DiagnoseThenOracle", "Transcript", "action_message", "episode_env_config",
    "expert_transcript", "expert_transcripts", "keep_demo", "kept_demos", "make_expert",
    "RECOVERY_KINDS", "RECOVERY_PREFIX", "recovery_transcripts", "without_recoveries",
    "CONTEXT_POLICIES", "LMEpisode", "action_profile", "evaluate_lm", "fit_context", "profile_summary",
    "run_lm_episodes", "turn_prompts",
]
