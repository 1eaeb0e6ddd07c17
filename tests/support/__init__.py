"""Shared helpers for driftline's tests: brokers, consumers, polling with deadlines."""
