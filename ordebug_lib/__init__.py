"""ordebug: GRPO-family RL on solver-verified tasks."""
__version__ = "0.1.0"
