"""The lowest layer: clock, validation, errors, the outcome vocabulary and task creation."""
