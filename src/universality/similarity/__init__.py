"""Similarity of paired decoder rows: the metrics, their permutation engine, nulls and scoring."""
