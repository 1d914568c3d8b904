"""``kbridge.ops``: the Keras 3 ``keras.ops`` surface on every backend.

Each op is declared once (signature + docstring) in a family module here and implemented
once per backend in ``kbridge/backend/<name>/<family>.py`` under the same name.
The numpy, nn, linalg, math and core families are also exported flat, as in Keras;
image ops live under ``kbridge.ops.image``.
"""

from kbridge.ops import array, core, image, linalg, math, nn, numpy

_FLAT = (core, numpy, array, nn, math, linalg)

for _module in _FLAT:
    for _name, _obj in vars(_module).items():
        if hasattr(_obj, "__kbridge_op__"):
            globals()[_name] = _obj
del _module, _name, _obj
