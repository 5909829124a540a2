"""Measuring what the simulator assumes (see bench/calibrate_bench.py)."""
