"""A kbridge model as a plain TensorFlow SavedModel, and a SavedModel as a kbridge layer.

* :func:`export_saved_model`: a ``tf.Module`` holding a snapshot of the weights as
  ``tf.Variable`` objects and one ``tf.function`` with a ``serving_default`` signature. The
  function is traced from the model's own TensorFlow ops (the model is converted to the
  tensorflow backend first when it lives elsewhere), so the SavedModel is pure TF: TF-Serving,
  ``tf.saved_model.load`` and the TFLite converter read it in a process that never imports
  kbridge.
* :func:`from_saved_model` / :class:`SavedModelLayer`: the reverse; a signature of a
  SavedModel as an inference layer on the tensorflow backend, usable in Functional models.

Signature names. Inputs are named after the Functional model's inputs (the keys of a dict
input, else each ``kbridge.Input``'s name), ``"inputs"`` for a Sequential or subclassed model.
Outputs are the keys of a dict output, else ``"output_0"``, ``"output_1"``, ... in order.
The batch dimension is always dynamic (``None``).
"""

import os
import re

import numpy as np
import tensorflow as tf

from kbridge.backend.common import context
from kbridge.backend.common.variables import unique_paths
from kbridge.errors import BackendError, KbridgeError, ShapeError
from kbridge.layers.layer import Layer

__all__ = ["SavedModelLayer", "export_saved_model", "from_saved_model"]

SERVING_KEY = "serving_default"
# What TensorFlow accepts as a signature argument name (tf.TensorSpec names must match it).
_VALID_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")

_NO_INPUT_SHAPE = (
    "Cannot infer the serving signature of model '{name}': its input shape is unknown. "
    "Build it first (call it on data, `model.build(input_shape)`, or start it with "
    "`kbridge.Input(shape)`), or pass the signature explicitly:\n\n"
    "    export_saved_model(model, path,\n"
    "                       input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])\n"
)


# --- export -----------------------------------------------------------------------------
class _InputLayout:
    """The model's inputs as signature entries, and how to hand them back to ``model()``.

    ``kind`` is ``"single"`` (one tensor), ``"list"`` or ``"dict"`` (keyed by ``names``).
    """

    def __init__(self, names, specs, kind):
        self.names, self.specs, self.kind = list(names), list(specs), kind

    def pack(self, tensors):
        if self.kind == "dict":
            return dict(zip(self.names, tensors))
        if self.kind == "list":
            return list(tensors)
        return tensors[0]


def _spec(shape, dtype, name):
    shape = tuple(shape)
    if not shape:
        raise ShapeError(f"Input '{name}' is a scalar; a serving signature needs a batch "
                         "dimension. Pass input_signature=[tf.TensorSpec((None, ...), ...)].")
    return tf.TensorSpec((None,) + tuple(shape[1:]), tf.as_dtype(dtype), name=name)


def _inferred_layout(model):
    """The :class:`_InputLayout` read from the model, or None when its inputs are unknown."""
    struct = getattr(model, "_inputs_struct", None)
    if struct is not None:  # Functional
        if isinstance(struct, dict):
            items = list(struct.items())
            kind = "dict"
        else:
            tensors = list(struct) if isinstance(struct, (list, tuple)) else [struct]
            items = [(t.name or f"input_{i}", t) for i, t in enumerate(tensors)]
            kind = "list" if isinstance(struct, (list, tuple)) else "single"
        return _InputLayout([k for k, _ in items],
                            [_spec(t.shape, t.dtype, k) for k, t in items], kind)
    inputs = getattr(model, "inputs", None)
    if inputs and len(inputs) == 1 and getattr(inputs[0], "shape", None) is not None:
        return _InputLayout(["inputs"], [_spec(inputs[0].shape, inputs[0].dtype, "inputs")],
                            "single")
    build_config = model.get_build_config() if getattr(model, "built", False) else None
    shape = (build_config or {}).get("input_shape")
    if shape is not None and all(d is None or isinstance(d, int) for d in shape):
        return _InputLayout(["inputs"], [_spec(shape, model.compute_dtype, "inputs")], "single")
    return None


def _layout_from_signature(model, input_signature):
    specs = list(input_signature) if isinstance(input_signature, (list, tuple)) else [
        input_signature]
    for s in specs:
        if not isinstance(s, tf.TensorSpec):
            raise KbridgeError("`input_signature` must be a list of tf.TensorSpec. Received an "
                               f"element of type {type(s).__name__}: {s!r}")
    inferred = _inferred_layout(model)
    if inferred is not None and len(inferred.specs) == len(specs):
        names, kind = list(inferred.names), inferred.kind
        if kind == "dict" and all(s.name in names for s in specs):
            names = [s.name for s in specs]  # named after the dict keys: match by name
    else:
        kind = "single" if len(specs) == 1 else "list"
        names = ["inputs"] if len(specs) == 1 else [f"input_{i}" for i in range(len(specs))]
    names = [s.name or n for s, n in zip(specs, names)]
    specs = [tf.TensorSpec(s.shape, s.dtype, name=n) for s, n in zip(specs, names)]
    return _InputLayout(names, specs, kind)


def _check_names(names, what):
    for n in names:
        if not isinstance(n, str) or not _VALID_NAME.match(n):
            raise KbridgeError(f"{what} name {n!r} is not a valid SavedModel signature name "
                               "(letters, digits, '.', '_', '-', '/'; not starting with '_' "
                               "or '-'). Rename the input/output, or pass input_signature="
                               "[tf.TensorSpec(..., name='x')].")
    if len(set(names)) != len(names):
        raise KbridgeError(f"{what} names must be unique. Received: {names}")


def _named_outputs(outputs):
    """``{signature name: tf.Tensor}`` for a model's output structure (from ``serve``)."""
    if isinstance(outputs, dict):
        named = dict(outputs)
    elif isinstance(outputs, (list, tuple)):
        named = {f"output_{i}": y for i, y in enumerate(outputs)}
    else:
        named = {"output_0": outputs}
    _check_names(list(named), "Output")
    return named


def _on_tensorflow(model):
    if model.backend_name == "tensorflow":
        return model
    from kbridge.models.cloning import convert

    try:
        return convert(model, "tensorflow")
    except KbridgeError as e:
        raise KbridgeError(f"export_saved_model needs model '{model.name}' on the tensorflow "
                           f"backend (it is on {model.backend_name!r}) and converting it "
                           f"failed: {e}") from e


def _structured_outputs(outputs):
    """The model's outputs as they are (tensor, list or dict), each a fresh named tensor.

    tf.identity: an output that is a variable or a pass-through input still gets its own
    tensor in the graph.
    """
    if isinstance(outputs, dict):
        return {k: tf.identity(tf.convert_to_tensor(v)) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return [tf.identity(tf.convert_to_tensor(v)) for v in outputs]
    return tf.identity(tf.convert_to_tensor(outputs))


class _ServingModule(tf.Module):
    """What the SavedModel holds: the weights as ``tf.Variable`` plus ``serve(inputs)``.

    ``serve`` takes the input structure as one argument (a tensor, a list, or a dict, as the
    model's ``call`` takes it) and returns the output structure: what Keras's own export
    writes, so ``keras.layers.TFSMLayer(path)`` calls it. :func:`export_saved_model` adds the
    flat, named ``serving_default`` signature over it.

    The variables are copies named by the kbridge variable paths, so the SavedModel does not
    change when the model trains on after the export.
    """

    def __init__(self, model, layout):
        super().__init__(name=None)
        trainable = unique_paths(model.trainable_variables)
        non_trainable = unique_paths(model.non_trainable_variables)
        self.trainable_weights = [tf.Variable(v.numpy(), trainable=True, name=p)
                                  for p, v in trainable.items()]
        self.non_trainable_weights = [tf.Variable(v.numpy(), trainable=False, name=p)
                                      for p, v in non_trainable.items()]
        trainable_values = list(self.trainable_weights)
        non_trainable_values = list(self.non_trainable_weights)

        def serve(inputs):
            # Traced once: kbridge's tensorflow ops write plain TF ops into this graph.
            outputs, _ = model.stateless_call(trainable_values, non_trainable_values, inputs,
                                              training=False)
            return _structured_outputs(outputs)

        self.serve = tf.function(serve, input_signature=[layout.pack(layout.specs)],
                                 autograph=False)


def write_saved_model(root, filepath, signatures, options=None):
    """``tf.saved_model.save(root, ...)`` into a temporary directory next to ``filepath``,
    then renamed into place (an existing SavedModel there is replaced); the absolute path."""
    path = os.path.abspath(os.fspath(filepath))
    if os.path.exists(path) and not os.path.isdir(path):
        raise KbridgeError(f"{path} exists and is not a directory; a SavedModel is a directory.")
    from kbridge.callbacks.model_checkpoint import staged_dir

    with staged_dir(path) as tmp:
        # mkdtemp makes the directory owner-only; a model server usually runs as another user.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        tf.saved_model.save(root, tmp, signatures=signatures, options=options)
    return path


def describe_endpoints(path, endpoints):
    """Keras's message after an export: the path and each endpoint's signature.

    ``endpoints``: ``{name: concrete function}``.
    """
    lines = [f"Saved artifact at '{path}'. The following endpoints are available:"]
    for name, concrete in endpoints.items():
        printed = concrete.pretty_printed_signature(verbose=True).split("\n")[1:]
        lines.append(f"\n* Endpoint '{name}'\n" + "\n".join(printed))
    return "\n".join(lines)


def export_saved_model(model, filepath, input_signature=None, verbose=None):
    """Write ``model`` (any backend) as a plain TensorFlow SavedModel, for inference.

    The SavedModel has two endpoints, both in inference mode (dropout off, batch-norm
    moving statistics) with a dynamic batch dimension:

    * ``serve(inputs)``, as Keras's ``model.export`` writes it: one argument with the
      model's input structure (tensor, list or dict), the output structure back. Keras's
      ``keras.layers.TFSMLayer(path)`` calls this one.
    * the ``serving_default`` signature with named inputs and outputs (see the module
      docstring), for TF-Serving.

    It is written to a temporary directory next to ``filepath`` and renamed into place.

    Args:
        model: a built kbridge model (or layer) on any backend; non-tensorflow models are
            converted with ``kbridge.convert`` (the model itself is left as it is).
        filepath: the SavedModel directory; an existing one is replaced.
        input_signature: a list of ``tf.TensorSpec`` (one per model input) instead of the
            shapes read from the model. Its names, when set, name the signature inputs.
        verbose: print the endpoints written (Keras prints them by default; kbridge only
            when ``verbose=True``).

    Returns:
        The absolute path written.

    Example:
        >>> kbridge.adapters.export_saved_model(model, "export/digits")
        >>> # elsewhere, without kbridge:
        >>> loaded = tf.saved_model.load("export/digits")
        >>> loaded.serve(tf.zeros((4, 28, 28, 1)))                      # a tensor
        >>> loaded.signatures["serving_default"](inputs=tf.zeros((4, 28, 28, 1)))["output_0"]
    """
    if input_signature is None:
        layout = _inferred_layout(model)
        if layout is None:
            raise KbridgeError(_NO_INPUT_SHAPE.format(name=model.name))
    else:
        layout = _layout_from_signature(model, input_signature)
    _check_names(layout.names, "Input")
    module = _ServingModule(_on_tensorflow(model), layout)

    def serving_default(*tensors):
        return _named_outputs(module.serve(layout.pack(list(tensors))))

    # Not an attribute of the module: Keras's TFSMLayer looks attributes up before signatures.
    signature = tf.function(serving_default, input_signature=layout.specs,
                            autograph=False).get_concrete_function()
    path = write_saved_model(module, filepath, {SERVING_KEY: signature})
    if verbose:
        print(describe_endpoints(path, {"serve": module.serve.get_concrete_function()}))
    return path


# --- import -----------------------------------------------------------------------------
def _output_indices(names):
    """``[0, 1, ...]`` when ``names`` are exactly output_0..output_{n-1}, else None."""
    indices = sorted(int(n[len("output_"):]) for n in names
                     if n.startswith("output_") and n[len("output_"):].isdigit())
    return indices if indices == list(range(len(names))) else None


class SavedModelLayer(Layer):
    """One signature of a TensorFlow SavedModel as a kbridge inference layer (tensorflow).

    Inputs: a single tensor when the signature has one input; otherwise a dict keyed by the
    signature's input names, or a list in :attr:`input_names` order (TF keeps signature
    inputs sorted by name). numpy arrays are accepted; floats are cast to the signature
    dtype. Outputs: a tensor for a single output, a list for ``output_0``, ``output_1``...
    (what :func:`export_saved_model` writes for list outputs), else a dict by name.

    Output shapes come from the signature, so the layer works on ``kbridge.Input`` tensors
    in Functional models. The SavedModel's variables are not kbridge weights: the layer is
    not trainable and ``get_weights()`` is empty.
    """

    # from_config would load a SavedModel graph named in the config, i.e. run foreign code.
    _unsafe_to_deserialize = True

    def __init__(self, filepath, endpoint=SERVING_KEY, name=None, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(name=name, **kwargs)
        if self.backend_name != "tensorflow":
            raise BackendError(
                f"from_saved_model() makes a tensorflow-backend layer, but the active backend "
                f"is {self.backend_name!r}. Create it inside "
                "`with kbridge.backend.use('tensorflow'):`.")
        self.filepath = os.fspath(filepath)
        self.endpoint = endpoint
        # Kept as a plain attribute: the loaded object owns the variables the signature reads.
        object.__setattr__(self, "_loaded", tf.saved_model.load(self.filepath))
        signatures = self._loaded.signatures
        if endpoint not in signatures:
            raise KbridgeError(f"SavedModel {self.filepath!r} has no signature {endpoint!r}. "
                               f"Available: {sorted(signatures)}")
        object.__setattr__(self, "_function", signatures[endpoint])
        _, input_specs = self._function.structured_input_signature
        self.input_specs = dict(input_specs)
        self.input_names = list(self.input_specs)
        self.output_specs = dict(self._function.structured_outputs)
        self.output_names = list(self.output_specs)
        self._output_order = _output_indices(self.output_names)
        self.built = True

    def _as_input_dict(self, inputs):
        names = self.input_names
        if isinstance(inputs, dict):
            missing = [n for n in names if n not in inputs]
            if missing:
                raise KbridgeError(f"Layer '{self.name}' needs inputs {names}; the dict lacks "
                                   f"{missing}. Received keys: {sorted(inputs)}")
            return {n: inputs[n] for n in names}
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != len(names):
                raise KbridgeError(f"Layer '{self.name}' needs {len(names)} input(s) "
                                   f"{names}. Received a {type(inputs).__name__} of "
                                   f"{len(inputs)}.")
            return dict(zip(names, inputs))
        if len(names) != 1:
            raise KbridgeError(f"Layer '{self.name}' needs {len(names)} inputs {names}: pass "
                               "a dict keyed by these names (or a list in this order).")
        return {names[0]: inputs}

    def _pack_outputs(self, named):
        if len(self.output_names) == 1:
            return named[self.output_names[0]]
        if self._output_order is not None:
            return [named[f"output_{i}"] for i in self._output_order]
        return dict(named)

    def call(self, inputs):
        feed = {}
        for name, x in self._as_input_dict(inputs).items():
            spec = self.input_specs[name]
            if isinstance(x, (np.ndarray, np.generic)):
                x = tf.convert_to_tensor(x)
            if not isinstance(x, (tf.Tensor, tf.Variable)):
                raise BackendError(
                    f"Layer '{self.name}' wraps a TensorFlow SavedModel and takes tf tensors "
                    f"or numpy arrays. Received a {type(x).__module__}.{type(x).__name__} for "
                    f"input {name!r}. Convert it first (kbridge.ops.convert_to_numpy).")
            if x.dtype != spec.dtype:
                if not (x.dtype.is_floating and spec.dtype.is_floating):
                    raise KbridgeError(f"Input {name!r} of layer '{self.name}' must be "
                                       f"{spec.dtype.name}. Received: {x.dtype.name}")
                x = tf.cast(x, spec.dtype)
            feed[name] = x
        return self._pack_outputs(self._function(**feed))

    def compute_output_spec(self, inputs):
        from kbridge.backend.common.keras_tensor import KerasTensor

        for name, x in self._as_input_dict(inputs).items():
            spec = self.input_specs[name]
            shape = tuple(getattr(x, "shape", ()))
            if not spec.shape.is_compatible_with(shape):
                raise ShapeError(f"Input {name!r} of layer '{self.name}' must have shape "
                                 f"{tuple(spec.shape.as_list())}. Received: {shape}")
        named = {n: KerasTensor(tuple(s.shape.as_list()), s.dtype.name)
                 for n, s in self.output_specs.items()}
        return self._pack_outputs(named)

    def get_config(self):
        config = super().get_config()
        config.update({"filepath": self.filepath, "endpoint": self.endpoint})
        return config


def from_saved_model(filepath, endpoint=SERVING_KEY, name=None):
    """A signature of a TensorFlow SavedModel as a :class:`SavedModelLayer` (tensorflow).

    Args:
        filepath: a SavedModel directory (from :func:`export_saved_model`, ``tf.saved_model.
            save`` or Keras ``model.export``).
        endpoint: the signature key, ``"serving_default"`` by default.
        name: the layer name.

    Example:
        >>> with kbridge.backend.use("tensorflow"):
        ...     x = kbridge.Input((28, 28, 1))
        ...     y = kbridge.adapters.from_saved_model("export/digits")(x)
        ...     model = kbridge.Model(x, kbridge.layers.Softmax()(y))
    """
    if context.get() != "tensorflow":
        raise BackendError(
            "from_saved_model() makes a tensorflow-backend layer, but the active backend is "
            f"{context.get()!r}. Call it inside `with kbridge.backend.use('tensorflow'):`.")
    return SavedModelLayer(filepath, endpoint=endpoint, name=name)

