"""Evaluation: metrics, baselines, the evaluate command and its report, before/after sheets."""
