"""Tests of the client against real loopback servers."""
