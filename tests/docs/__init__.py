"""Every Python block of README.md and docs/ runs (or, marked as a fragment, compiles)."""
