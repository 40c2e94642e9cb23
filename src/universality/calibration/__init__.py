"""Calibration: the main comparison read against its references (skyline, floor, seeds, shuffled windows)."""
