"""Pure decisions, no I/O, time only through the injected clock: response classification,
delays (fixed and percentile-based), deadline splitting, ``Retry-After``, retry and hedge budgets,
and the observer role through which adaptive policies learn of finished attempts."""
