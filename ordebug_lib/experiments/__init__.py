"""Paper experiments as package code: arms, their runner and result collection (notebooks orchestrate)."""
