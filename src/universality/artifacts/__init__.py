"""The paper's cached artifacts: the manifest of what each stage wrote and where, and the anonymous archive."""
