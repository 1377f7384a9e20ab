"""Published benchmarks that judge what a search found (ground truth)."""
