"""The city-scale benchmark: `make bench` (see README, "Benchmark")."""
