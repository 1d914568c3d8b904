"""``ExportArchive``: Keras 3's API for a SavedModel with custom endpoints.

A layer on the tensorflow backend is exported with its own ``tf.Variable`` objects; a layer
on another backend is converted first (``kbridge.convert(layer, "tensorflow")``, a snapshot
of its weights), and endpoints that are its bound methods (``model.call``,
``model.__call__``) run on that copy. Writing the directory goes through
:func:`kbridge.adapters.tf_adapter.write_saved_model` (atomic replace). TensorFlow is
imported when an archive is created, not by ``import kbridge.export``.
"""

from kbridge.errors import ArgumentError, KbridgeError

_NO_SIGNATURE = (
    "`add_endpoint('{name}', fn)` needs `input_signature` unless `fn` is a tf.function that "
    "has already been called. Example:\n\n"
    "    archive.add_endpoint(\n"
    "        'serve', model.call,\n"
    "        input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])\n")


class ExportArchive:
    """A TensorFlow SavedModel assembled endpoint by endpoint (as ``keras.export.ExportArchive``).

    Example:
        >>> archive = kbridge.export.ExportArchive()
        >>> archive.track(model)
        >>> archive.add_endpoint("serve", model.call,
        ...                      input_signature=[tf.TensorSpec((None, 5), tf.float32)])
        >>> archive.add_variable_collection("weights", model.weights)
        >>> archive.write_out("export/model")
        >>> tf.saved_model.load("export/model").serve(x)
    """

    def __init__(self):
        import tensorflow as tf

        self._tf = tf
        self._root = tf.__internal__.tracking.AutoTrackable()
        self._root.variables = []
        self._root.trainable_variables = []
        self._root.non_trainable_variables = []
        self._endpoint_names = []
        self._endpoint_signatures = {}
        self._copies = []  # (tracked kbridge layer, its tensorflow-backend twin)

    variables = property(lambda self: self._root.variables)
    trainable_variables = property(lambda self: self._root.trainable_variables)
    non_trainable_variables = property(lambda self: self._root.non_trainable_variables)

    # --- resources --------------------------------------------------------------------
    def track(self, resource):
        """Track a built kbridge layer/model (its variables go into the archive) or a
        TensorFlow trackable (e.g. a lookup table) used by an endpoint."""
        from kbridge.layers.layer import Layer

        tf = self._tf
        if isinstance(resource, Layer):
            if not resource.built:
                raise KbridgeError(f"Layer '{resource.name}' is not built yet; build it (call "
                                   "it on data or `build(input_shape)`) before exporting it.")
            if self._twin(resource) is not None:
                return
            from kbridge.adapters.tf_adapter import _on_tensorflow

            twin = _on_tensorflow(resource)
            self._copies.append((resource, twin))
            self._root.variables.extend(v.value for v in twin.weights)
            self._root.trainable_variables.extend(v.value for v in twin.trainable_weights)
            self._root.non_trainable_variables.extend(
                v.value for v in twin.non_trainable_weights)
        elif isinstance(resource, tf.__internal__.tracking.Trackable):
            if not hasattr(self._root, "_tracked"):
                self._root._tracked = []
            self._root._tracked.append(resource)  # append through the tracking wrapper
        else:
            raise ArgumentError("track() expects a kbridge Layer/Model or a TensorFlow "
                                f"Trackable. Received: {type(resource).__name__} {resource!r}")

    def _twin(self, layer):
        for original, twin in self._copies:
            if original is layer or twin is layer:
                return twin
        return None

    def _on_tensorflow(self, fn):
        """``fn``, rebound to the tensorflow twin when it is a tracked layer's method."""
        from kbridge.layers.layer import Layer

        owner = getattr(fn, "__self__", None)
        if isinstance(owner, Layer):
            twin = self._twin(owner)
            if twin is None:
                raise KbridgeError(f"The endpoint function is a method of layer "
                                   f"'{owner.name}', which is not tracked: call "
                                   "archive.track(layer) first (or use "
                                   "track_and_add_endpoint).")
            return getattr(twin, fn.__name__)
        if isinstance(fn, Layer):
            return self._on_tensorflow(fn.__call__)
        return fn

    def add_variable_collection(self, name, variables):
        """Store ``variables`` (a list/tuple/set of kbridge or tf Variables) as
        ``loaded.<name>`` in the SavedModel."""
        tf = self._tf
        if not isinstance(variables, (list, tuple, set)):
            raise ArgumentError("`variables` must be a list, tuple or set. Received: "
                                f"{type(variables).__name__}")
        twins = {}
        for original, twin in self._copies:
            twins.update({id(a): b for a, b in zip(original.weights, twin.weights)})
        collection = []
        for v in variables:
            if isinstance(v, tf.Variable):
                collection.append(v)
                continue
            if not hasattr(v, "assign") or not hasattr(v, "path"):
                raise ArgumentError("`variables` must hold kbridge or tf Variables. Received "
                                    f"an element of type {type(v).__name__}")
            v = twins.get(id(v), v)
            if isinstance(getattr(v, "value", None), tf.Variable):
                collection.append(v.value)
            else:  # a variable of no tracked layer, on another backend: a snapshot
                collection.append(tf.Variable(v.numpy(), trainable=v.trainable, name=v.name))
        setattr(self._root, name, collection)

    # --- endpoints --------------------------------------------------------------------
    def add_endpoint(self, name, fn, input_signature=None, **kwargs):
        """Add ``fn`` as the endpoint ``name`` (``loaded.<name>(...)`` and a signature).

        Args:
            name: the endpoint name.
            fn: a function of tensorflow tensors; a method of a tracked layer runs on that
                layer (its tensorflow twin when the layer lives on another backend).
            input_signature: a list (structure) of ``tf.TensorSpec``, ``kbridge.InputSpec``
                or ``KerasTensor``, one per argument of ``fn``. May be omitted when ``fn``
                is a ``tf.function`` that has already been traced.

        Returns:
            The ``tf.function`` stored in the archive.
        """
        tf = self._tf
        _no_jax2tf(kwargs)
        if not isinstance(name, str) or not name.isidentifier():
            raise ArgumentError(f"Endpoint name must be a Python identifier. Received: {name!r}")
        if name in self._endpoint_names:
            raise KbridgeError(f"Endpoint name '{name}' is already taken.")
        if input_signature is None:
            if not isinstance(fn, tf.types.experimental.GenericFunction) or not (
                    fn._list_all_concrete_functions()):
                raise KbridgeError(_NO_SIGNATURE.format(name=name))
            decorated = fn
        else:
            specs = _map(lambda s: _tensor_spec(s, tf), list(input_signature)
                         if isinstance(input_signature, tuple) else input_signature)
            decorated = tf.function(self._on_tensorflow(fn), input_signature=specs,
                                    autograph=False)
            decorated.get_concrete_function()
            self._endpoint_signatures[name] = specs
        setattr(self._root, name, decorated)
        self._endpoint_names.append(name)
        return decorated

    def track_and_add_endpoint(self, name, resource, input_signature, **kwargs):
        """``track(resource)`` then ``add_endpoint(name, resource.__call__, input_signature)``."""
        _no_jax2tf(kwargs)
        self.track(resource)
        return self.add_endpoint(name, resource.__call__, input_signature)

    def _concrete(self, name):
        fn = getattr(self._root, name)
        return fn.get_concrete_function() if name in self._endpoint_signatures else (
            fn._list_all_concrete_functions()[0])

    def write_out(self, filepath, options=None, verbose=True):
        """Write the SavedModel to ``filepath`` (replaced atomically when it exists).

        Every endpoint is also a signature; the first one is ``serving_default`` unless an
        endpoint has that name.
        """
        from kbridge.adapters.tf_adapter import describe_endpoints, write_saved_model

        if not self._endpoint_names:
            raise KbridgeError("No endpoints have been added yet. Call add_endpoint() first.")
        signatures = {name: self._concrete(name) for name in self._endpoint_names}
        signatures.setdefault("serving_default", signatures[self._endpoint_names[0]])
        # Whatever the endpoints read must be reachable from the root to be saved.
        used, seen = [], set()
        for concrete in signatures.values():
            for v in concrete.variables:
                if id(v) not in seen:
                    seen.add(id(v))
                    used.append(v)
        self._root._all_variables = used
        path = write_saved_model(self._root, filepath, signatures, options=options)
        if verbose:
            print(describe_endpoints(path, {n: self._concrete(n) for n in self._endpoint_names}))
        return path


def _no_jax2tf(kwargs):
    if kwargs:  # Keras's jax2tf_kwargs / is_static
        raise ArgumentError(f"Unsupported arguments: {sorted(kwargs)}. Keras passes them to "
                            "jax2tf; kbridge exports every backend through its tensorflow "
                            "backend instead, so they do not apply.")


def _map(fn, structure):
    if isinstance(structure, (list, tuple)):
        return [_map(fn, s) for s in structure]
    if isinstance(structure, dict):
        return {k: _map(fn, v) for k, v in structure.items()}
    return fn(structure)


def _tensor_spec(spec, tf):
    """A ``tf.TensorSpec`` for a TensorSpec, kbridge InputSpec or KerasTensor."""
    if isinstance(spec, tf.TensorSpec):
        return spec
    shape, dtype = getattr(spec, "shape", None), getattr(spec, "dtype", None)
    if shape is None:
        raise ArgumentError("Each `input_signature` element must be a tf.TensorSpec, a "
                            "kbridge.InputSpec with a shape, or a KerasTensor. Received: "
                            f"{spec!r}")
    return tf.TensorSpec(tuple(shape), tf.as_dtype(dtype or "float32"),
                         name=getattr(spec, "name", None))
