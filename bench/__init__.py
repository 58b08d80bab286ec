"""Benchmarks (`python -m bench`) and the chaos harness (`python -m bench.chaos`) of Enigma."""
