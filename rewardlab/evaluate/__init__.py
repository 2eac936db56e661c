"""Evaluate rewards: benchmarks with their exact scoring, diagnostics, audit probes,
reward distances and the one HTML report module (see docs/eval.md)."""
