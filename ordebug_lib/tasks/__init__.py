"""Verifiable tasks: Countdown (``countdown``, ``countdown_streams``, ``countdown_trl``)."""
