"""Pairs by what their features fire on: token-identity pairs and semantic categories."""
