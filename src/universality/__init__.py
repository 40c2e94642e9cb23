"""Are sparse-autoencoder feature spaces universal across language models?

The package behind the paper's DVC pipeline: one module per concern, one CLI
(`python -m universality STAGE --help`) whose sub-commands are the pipeline stages.
"""

__version__ = "0.1.0"

import os

# torch's OpenMP threads spin while they wait for each other; on a small machine shared with
# any other busy process that turns microsecond operations into scheduler time slices (SAE
# training measured 30x slower). Passive waiting costs about 15% when the CPU is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
