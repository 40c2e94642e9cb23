"""Are sparse-autoencoder feature spaces universal across language models?

The package behind the paper's DVC pipeline: one module per concern, one CLI
(`python -m universality STAGE --help`) whose sub-commands are the pipeline stages.
"""

__version__ = "0.1.0"
