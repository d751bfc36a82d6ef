"""Micro-benchmarks of privgen's compute paths (training throughput, FLOP efficiency, sampling)."""
