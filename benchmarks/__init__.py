"""Speed and memory goals, a script per goal; results go to benchmarks/RESULTS.md."""
