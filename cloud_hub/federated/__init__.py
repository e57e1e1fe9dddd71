"""Federated learning rounds: pure aggregation maths, strategies, and the round service."""
