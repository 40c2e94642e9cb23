"""Pairing SAE features across two sources: exact max correlation, filters, 1-1 rules, buckets, hubs."""
