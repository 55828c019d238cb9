"""The lowest layer: the clock, errors, the outcome vocabulary, option validation, task ownership.

Nothing here imports the rest of the package. Only :mod:`.clock` reads time and only
:mod:`.concurrency` creates tasks (ruff's ``banned-api`` rules in ``pyproject.toml`` enforce both).
"""
