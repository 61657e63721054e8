"""Side-by-side timing and accuracy scripts; results in benchmarks/results/."""
