"""Activation caches: SAE codes of every source's layers over its token set, with their quality."""
