"""Benchmarks: each writes its figures as JSON under bench/results/."""
