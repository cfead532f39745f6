"""Evaluation on held-out rows: metrics, curves, slices, baselines and the champion comparison."""
