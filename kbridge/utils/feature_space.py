"""``FeatureSpace``: Keras 3's one-stop preprocessing of structured (tabular) data.

Each named feature gets a preprocessing layer (normalisation, discretisation, vocabulary
lookup or hashing, from :mod:`kbridge.layers`); categorical features are one-hot encoded;
pairs of features can be crossed; the results are concatenated (or returned as a dict).
Vocabulary and hashing layers compute on the numpy side, so strings work on every backend.

Hashing (``*_hashed`` features and crosses) uses kbridge's stable hash, not TensorFlow's
FarmHash: bins are the same on every backend but differ from Keras's.
"""

import itertools

import numpy as np

from kbridge.errors import ArgumentError, KbridgeError
from kbridge.layers.layer import Layer
from kbridge.layers.preprocessing import _check_choice, _to_numpy
from kbridge.saving import registry

__all__ = ["FeatureSpace"]

_FEATURE_TYPES = ("float", "float_rescaled", "float_normalized", "float_discretized",
                  "integer_categorical", "string_categorical", "integer_hashed",
                  "string_hashed")
_auto_names = itertools.count(1)


def _auto_name(prefix):
    return f"{prefix}_{next(_auto_names)}"


def _lookup_feature(dtype, lookup, name, max_tokens, num_oov_indices, output_mode):
    """A categorical ``Feature`` preprocessed by the lookup layer class named ``lookup``."""
    from kbridge import layers

    layer = getattr(layers, lookup)(name=f"{name}_preprocessor", max_tokens=max_tokens,
                                    num_oov_indices=num_oov_indices)
    return Feature(dtype, layer, output_mode)


class Cross:
    """A crossing of features, hashed into ``crossing_dim`` bins (``FeatureSpace.cross``)."""

    def __init__(self, feature_names, crossing_dim, output_mode="one_hot"):
        _check_choice(output_mode, ("int", "one_hot"), "output_mode")
        self.feature_names = tuple(feature_names)
        self.crossing_dim = crossing_dim
        self.output_mode = output_mode

    @property
    def name(self):
        return "_X_".join(self.feature_names)

    def get_config(self):
        return {"feature_names": self.feature_names, "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Feature:
    """A feature's input dtype, preprocessing layer and encoding (``FeatureSpace.feature``)."""

    def __init__(self, dtype, preprocessor, output_mode):
        _check_choice(output_mode, ("int", "one_hot", "float"), "output_mode")
        self.dtype = dtype
        if isinstance(preprocessor, dict):
            preprocessor = _deserialize_preprocessor(preprocessor)
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def get_config(self):
        return {"dtype": self.dtype, "preprocessor": registry.serialize(self.preprocessor),
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


registry.register(Cross)
registry.register(Feature)


def _deserialize_preprocessor(config):
    """A preprocessing layer from its serialised form. An adapted Discretization's config
    holds both ``num_bins`` and ``bin_boundaries``, which its constructor refuses together:
    the boundaries are set after construction (as Keras's ``Discretization.from_config``)."""
    inner = config.get("config") or {}
    if (config.get("class_name") == "Discretization"
            and inner.get("bin_boundaries") is not None and inner.get("num_bins") is not None):
        inner = dict(inner)
        boundaries = inner.pop("bin_boundaries")
        layer = registry.deserialize({**config, "config": inner})
        layer.bin_boundaries = list(boundaries)
        return layer
    return registry.deserialize(config)


def _in_tf_graph(data):
    """True when called with symbolic TensorFlow tensors (``Dataset.map``, ``tf.function``)."""
    import sys

    tf = sys.modules.get("tensorflow")
    if tf is None or tf.executing_eagerly():
        return False
    return any(isinstance(v, tf.Tensor) for v in data.values())


def _as_numpy(result):
    if isinstance(result, dict):
        return {k: _to_numpy(v) for k, v in result.items()}
    return _to_numpy(result)


def _cardinality(layer):
    from kbridge import layers

    if isinstance(layer, (layers.IntegerLookup, layers.StringLookup)):
        return layer.vocabulary_size()
    if isinstance(layer, layers.CategoryEncoding):
        return layer.num_tokens
    if isinstance(layer, (layers.Discretization, layers.Hashing, layers.HashedCrossing)):
        return layer.num_bins
    return None


class FeatureSpace(Layer):
    """Preprocesses a dict of features into one vector (or a dict of encoded features).

    Features are named types ("float", "float_rescaled", "float_normalized",
    "float_discretized", "integer_categorical", "string_categorical", "integer_hashed",
    "string_hashed") or ``FeatureSpace.<type>(...)`` / ``FeatureSpace.feature(...)`` specs.
    ``adapt`` learns the statistics and vocabularies from a ``tf.data.Dataset`` of dicts or a
    dict of arrays; calling the space on a dict of arrays (a batch, or one sample of scalars)
    returns the encoded features as tensors of the active backend.

    Args:
        features: ``{name: type or spec}``.
        output_mode: "concat" (one float vector per sample) or "dict".
        crosses: lists of feature names to cross, or ``FeatureSpace.cross(...)`` specs.
        crossing_dim: hashing bins of each cross.
        hashing_dim: bins of the "*_hashed" features.
        num_discretization_bins: bins of "float_discretized" features.

    Example:
        >>> space = kbridge.utils.FeatureSpace(
        ...     {"age": "float_normalized", "city": "string_categorical"})
        >>> space.adapt({"age": np.array([20., 40.]), "city": np.array(["a", "b"])})
        >>> space({"age": np.array([30.]), "city": np.array(["b"])}).shape  # (1, 4): 1 + 3
    """

    # --- feature specs ------------------------------------------------------------------
    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot"):
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode):
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name=None):
        from kbridge import layers

        name = name or _auto_name("float")
        return Feature("float32", layers.Identity(dtype="float32",
                                                  name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name=None):
        from kbridge import layers

        name = name or _auto_name("float_rescaled")
        return Feature("float32", layers.Rescaling(scale=scale, offset=offset,
                                                   name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_normalized(cls, name=None):
        from kbridge import layers

        name = name or _auto_name("float_normalized")
        return Feature("float32", layers.Normalization(axis=-1, name=f"{name}_preprocessor"),
                       "float")

    @classmethod
    def float_discretized(cls, num_bins, bin_boundaries=None, output_mode="one_hot",
                          name=None):
        from kbridge import layers

        name = name or _auto_name("float_discretized")
        layer = layers.Discretization(num_bins=num_bins, bin_boundaries=bin_boundaries,
                                      name=f"{name}_preprocessor")
        return Feature("float32", layer, output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                            name=None):
        return _lookup_feature("int32", "IntegerLookup", name or _auto_name("integer_categorical"),
                               max_tokens, num_oov_indices, output_mode)

    @classmethod
    def string_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                           name=None):
        return _lookup_feature("string", "StringLookup", name or _auto_name("string_categorical"),
                               max_tokens, num_oov_indices, output_mode)

    @classmethod
    def string_hashed(cls, num_bins, output_mode="one_hot", name=None):
        from kbridge import layers

        name = name or _auto_name("string_hashed")
        return Feature("string", layers.Hashing(name=f"{name}_preprocessor",
                                                num_bins=num_bins), output_mode)

    @classmethod
    def integer_hashed(cls, num_bins, output_mode="one_hot", name=None):
        from kbridge import layers

        name = name or _auto_name("integer_hashed")
        return Feature("int32", layers.Hashing(name=f"{name}_preprocessor",
                                               num_bins=num_bins), output_mode)

    # --- construction -------------------------------------------------------------------
    def __init__(self, features, output_mode="concat", crosses=None, crossing_dim=32,
                 hashing_dim=32, num_discretization_bins=32, name=None):
        super().__init__(name=name)
        if not features:
            raise ArgumentError("`features` must be a non-empty dict of feature names to "
                                f"types or specs. Received: features={features!r}")
        _check_choice(output_mode, ("dict", "concat"), "output_mode")
        self.crossing_dim = crossing_dim
        self.hashing_dim = hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.output_mode = output_mode
        self.features = {n: self._standardize_feature(n, f) for n, f in features.items()}
        self.crosses = []
        for cross in crosses or ():
            if isinstance(cross, dict):
                cross = registry.deserialize(cross)
            if not isinstance(cross, Cross):
                if not crossing_dim:
                    raise ArgumentError("`crosses` needs `crossing_dim` (the number of hashing "
                                        "bins of a cross).")
                unknown = [n for n in cross if n not in self.features]
                if unknown:
                    raise ArgumentError(f"`crosses` names features not in `features`: {unknown}"
                                        f" (in the cross {tuple(cross)})")
                cross = Cross(cross, crossing_dim=crossing_dim)
            self.crosses.append(cross)
        self.crosses_by_name = {c.name: c for c in self.crosses}
        self.preprocessors = {n: f.preprocessor for n, f in self.features.items()}
        for layer in self.preprocessors.values():
            if type(layer).__name__ == "Discretization":
                # Layer autocasting would cast float inputs to the int64 output dtype and move
                # values on a boundary into the lower bin; Keras only autocasts float->float.
                layer.autocast = False
        self.crossers = {c.name: self._crosser(c) for c in self.crosses}
        self.one_hot_encoders = {}
        self.inputs = None
        self.encoded_features = None
        self._is_adapted = False
        self._sublayers_built = False
        self._input_shapes = {}  # per adapted feature, for get_build_config
        self.built = False  # built by adapt() or, when loading, build_from_config()

    def _standardize_feature(self, name, feature):
        if isinstance(feature, Feature):
            return feature
        if isinstance(feature, dict):
            return registry.deserialize(feature)
        if feature == "float_discretized":
            return self.float_discretized(num_bins=self.num_discretization_bins, name=name)
        if feature in ("integer_hashed", "string_hashed"):
            return getattr(self, feature)(self.hashing_dim, name=name)
        if feature in _FEATURE_TYPES:
            return getattr(self, feature)(name=name)
        raise ArgumentError(f"Feature {name!r} has an unknown type {feature!r}; expected one "
                            f"of {_FEATURE_TYPES} or a FeatureSpace.feature(...) spec.")

    @staticmethod
    def _crosser(cross):
        from kbridge import layers

        return layers.HashedCrossing(cross.crossing_dim, name=cross.name)

    # --- adapt --------------------------------------------------------------------------
    def _adaptable(self):
        from kbridge import layers

        names = []
        for name, layer in self.preprocessors.items():
            if isinstance(layer, layers.Normalization) and layer.input_mean is not None:
                continue
            if isinstance(layer, layers.Discretization) and layer.num_bins is None:
                continue  # given bin boundaries
            if hasattr(layer, "adapt"):
                names.append(name)
        return names

    @staticmethod
    def _columns(dataset, names):
        """``{name: all values as an (n, 1) (or (n, d)) numpy array}``, the dataset read once."""
        if isinstance(dataset, dict):
            columns = {n: _to_numpy(dataset[n]) for n in names}
        else:
            chunks = {n: [] for n in names}
            for element in dataset:
                for n in names:
                    chunks[n].append(_to_numpy(element[n]))
            if names and not chunks[names[0]]:
                raise ArgumentError("adapt() received an empty dataset.")
            columns = {n: np.stack(c) if c[0].ndim == 0 else np.concatenate(c)
                       for n, c in chunks.items()}
        for n, values in columns.items():
            if values.dtype.kind == "S":  # tf.string: bytes
                values = np.char.decode(values, "utf-8").astype(object)
            columns[n] = values.reshape(-1, 1) if values.ndim < 2 else values
        return columns

    def adapt(self, dataset):
        """Learns every adaptable preprocessor's state (means, bins, vocabularies) from a
        ``tf.data.Dataset`` of feature dicts (batched or not) or a dict of arrays."""
        if not isinstance(dataset, dict) and not (
                type(dataset).__module__.startswith("tensorflow") and hasattr(dataset, "map")):
            raise ArgumentError("adapt() takes a tf.data.Dataset or a dict of arrays/lists. "
                                f"Received: {type(dataset).__name__}")
        names = self._adaptable()
        for name, column in self._columns(dataset, names).items():
            self.preprocessors[name].adapt(column)
            self._input_shapes[name] = [None] + list(column.shape[1:])
        self._is_adapted = True
        self._build_encoders()
        self.built = True

    def _check_if_adapted(self):
        if not self._is_adapted:
            if self._adaptable():
                raise KbridgeError("Call .adapt(dataset) on the FeatureSpace before using it.")
            self._is_adapted = True

    def _build_encoders(self):
        """Decides, once adapted, which features get one-hot encoders (and checks that a
        concatenation is possible)."""
        from kbridge import layers

        if self._sublayers_built:
            return
        self._check_if_adapted()
        specs = dict(self.features)
        specs.update(self.crosses_by_name)
        for name, spec in specs.items():
            if spec.output_mode == "one_hot":
                layer = self.preprocessors.get(name) or self.crossers.get(name)
                depth = _cardinality(layer)
                if depth is None:
                    raise ArgumentError(
                        f"Feature {name!r} has output_mode='one_hot' but its preprocessor "
                        f"({type(layer).__name__}) has no known number of values; use "
                        "output_mode='int'.")
                self.one_hot_encoders[name] = layers.CategoryEncoding(
                    num_tokens=depth, output_mode="multi_hot")
            elif self.output_mode == "concat" and spec.output_mode == "int":
                raise ArgumentError(f"Cannot concatenate feature {name!r}: it is not encoded "
                                    "(output_mode='int'). Use output_mode='dict' or one_hot.")
        self._sublayers_built = True

    # --- inputs and symbolic outputs ------------------------------------------------------
    def _names(self):
        return sorted(self.features), sorted(self.crosses_by_name)

    def get_inputs(self):
        """``{name: kbridge.Input(shape=(1,), dtype=...)}``, one per feature."""
        from kbridge import layers

        self._build_encoders()
        if self.inputs is None:
            self.inputs = {n: layers.Input(shape=(1,), dtype=f.dtype, name=n)
                           for n, f in self.features.items()}
        return self.inputs

    def get_encoded_features(self):
        """The encoded features as symbolic tensors of :meth:`get_inputs` (for a functional
        model taking raw features)."""
        if self.encoded_features is None:
            self.encoded_features = self._encode(self.get_inputs(), symbolic=True)
        return self.encoded_features

    # --- calling ------------------------------------------------------------------------
    def _encode(self, data, symbolic=False):
        from kbridge import layers, ops

        features, crosses = self._names()
        encoded = {n: self.preprocessors[n](data[n]) for n in features}
        for name in crosses:
            cross = self.crosses_by_name[name]
            encoded[name] = self.crossers[name]([encoded[n] for n in cross.feature_names])
        out = {}
        for name in features + crosses:
            value = encoded[name]
            if name in self.one_hot_encoders:
                value = self.one_hot_encoders[name](value)
            elif self.output_mode == "concat":
                value = ops.cast(value, "float32")
            out[name] = value
        if self.output_mode == "dict":
            return out
        values = [out[n] for n in features + crosses]
        if symbolic:
            return layers.Concatenate(axis=-1)(values) if len(values) > 1 else values[0]
        return ops.concatenate(values, axis=-1)

    def _prepare(self, name, value):
        value = _to_numpy(value)
        if value.dtype.kind == "S":
            value = np.char.decode(value, "utf-8").astype(object)
        dtype = self.features[name].dtype
        if dtype == "float32" and value.dtype.kind in "iuf":
            value = value.astype("float32")
        return value

    def __call__(self, data):
        if not isinstance(data, dict):
            raise ArgumentError("A FeatureSpace is called on a dict of features. Received: "
                                f"{type(data).__name__}")
        missing = [n for n in self.features if n not in data]
        if missing:
            raise ArgumentError(f"Missing features {missing}; the FeatureSpace expects "
                                f"{sorted(self.features)}")
        self._build_encoders()
        if _in_tf_graph(data):
            return self._call_in_tf_graph(data)
        return self._call_eagerly(data)

    # TF autograph (``fs(x)`` in ``Dataset.map``) must call the space as plain Python, not
    # rewrite it: the graph path hands the work to tf.py_function (see
    # kbridge/metrics/metric.py). Autograph looks the marker up on the called object.
    autograph_info__ = frozenset()

    def _call_eagerly(self, data):
        data = {n: self._prepare(n, data[n]) for n in self.features}
        single = all(v.ndim == 0 for v in data.values())
        data = {n: v.reshape(1, 1) if v.ndim == 0 else (v[:, None] if v.ndim == 1 else v)
                for n, v in data.items()}
        merged = self._encode(data)
        if single:  # one sample of scalars in, one encoded sample out
            from kbridge import ops

            if self.output_mode == "concat":
                return ops.squeeze(merged, axis=0)
            return {n: ops.squeeze(v, axis=0) if len(v.shape) == 2 and v.shape[0] == 1 else v
                    for n, v in merged.items()}
        return merged

    def _call_in_tf_graph(self, data):
        """Inside ``tf.data.Dataset.map`` (or a ``tf.function``): the numpy-side computation
        runs through ``tf.py_function``; output dtypes and widths come from a one-row probe."""
        import tensorflow as tf

        names = sorted(self.features)
        rank = max(len(data[n].shape) for n in names)
        probe = {n: np.zeros((1, 1), "object" if self.features[n].dtype == "string"
                             else "float32" if self.features[n].dtype == "float32" else "int64")
                 for n in names}
        for n in names:
            if self.features[n].dtype == "string":
                probe[n][:] = ""
        probe = _as_numpy(self._call_eagerly(probe))
        keys = sorted(probe) if isinstance(probe, dict) else None
        templates = [probe[k] for k in keys] if keys else [probe]

        def run(*values):
            out = self._call_eagerly(dict(zip(names, [v.numpy() for v in values])))
            out = _as_numpy(out)
            return [out[k] for k in keys] if keys else [out]

        results = tf.py_function(run, [data[n] for n in names],
                                 Tout=[tf.as_dtype(t.dtype) for t in templates])
        for tensor, template in zip(results, templates):
            width = template.shape[1:]
            tensor.set_shape(width if rank == 0 else (None,) + width)
        return dict(zip(keys, results)) if keys else results[0]

    # --- saving -------------------------------------------------------------------------
    def get_config(self):
        return {
            "features": {n: registry.serialize(f) for n, f in self.features.items()},
            "output_mode": self.output_mode,
            "crosses": [registry.serialize(c) for c in self.crosses],
            "crossing_dim": self.crossing_dim,
            "hashing_dim": self.hashing_dim,
            "num_discretization_bins": self.num_discretization_bins,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_build_config(self):
        config = {}
        for name, feature in self.features.items():
            layer = feature.preprocessor
            build = layer.get_build_config()
            if build is None and layer.built:  # built by adapt(), not by a call
                build = {"input_shape": self._input_shapes.get(name, [None, 1])}
            config[name] = build
        return config

    def build_from_config(self, config):
        for name, build_config in config.items():
            layer = self.features[name].preprocessor
            if not layer.built:
                layer.build_from_config(build_config)
        self._is_adapted = True
        self.built = True

    def save(self, filepath):
        """Saves the space (config and adapted state) as a ``.keras`` archive."""
        from kbridge import saving

        saving.save_model(self, filepath)

    def save_own_variables(self, store):
        return

    def load_own_variables(self, store):
        return
