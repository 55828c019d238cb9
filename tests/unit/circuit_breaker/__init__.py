"""Tests of the circuit breaker package and its use by the client."""
