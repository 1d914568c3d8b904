"""``set_random_seed``: one seed for every source of randomness kbridge uses."""

__all__ = ["set_random_seed"]


def set_random_seed(seed):
    """Seed every source of randomness kbridge uses: Python, numpy, initializers, kbridge.random
    and the frameworks already imported (torch, tensorflow). Makes ``fit`` repeatable."""
    import random
    import sys

    import numpy as np

    from kbridge import initializers
    from kbridge import random as kbridge_random

    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    initializers.set_global_seed(seed)
    if hasattr(kbridge_random, "set_seed"):
        kbridge_random.set_seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(seed)
