"""Pure decisions, no I/O: from counts, state and settings to a plan."""
