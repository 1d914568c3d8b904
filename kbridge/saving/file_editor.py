"""``KerasFileEditor``: inspect and edit the weights of a ``.keras`` / ``.weights.h5`` file.

The weights are read into a nested dict mirroring Keras's layout: an object's variables
under their index (``"0"``, ``"1"`` ...) and its sub-objects under their names, e.g.
``weights_dict["layers"]["dense"]["0"]`` is the first dense layer's kernel. Edits change that
dict; :meth:`KerasFileEditor.save` writes it as a ``.weights.h5`` file.
"""

import io
import json
import os
import zipfile

import numpy as np

from kbridge.errors import ArgumentError
from kbridge.hub.errors import ReleaseError

_MAX_DATASET_BYTES = 1 << 32


class KerasFileEditor:
    """Open a ``.keras`` or ``.weights.h5`` file to list, compare and edit its weights.

    Example:
        >>> editor = kbridge.saving.KerasFileEditor("model.keras")
        >>> editor.summary()
        >>> editor.rename_object("dense", "head")
        >>> editor.delete_weight("head", "1")
        >>> editor.save("edited.weights.h5")
    """

    def __init__(self, filepath):
        from kbridge.saving import keras_format, keras_import

        self.filepath = os.fspath(filepath)
        self.metadata = None
        self.config = None
        self.model = None
        where = os.path.basename(self.filepath)
        if self.filepath.endswith(".keras"):
            self.config, weights = keras_import.read_archive(self.filepath)
            with zipfile.ZipFile(self.filepath) as archive:
                if keras_format.METADATA_FILE in archive.namelist():
                    try:
                        self.metadata = json.loads(archive.read(keras_format.METADATA_FILE))
                    except (json.JSONDecodeError, UnicodeDecodeError) as e:
                        raise ReleaseError(f"{where}/metadata.json: not valid JSON ({e})") \
                            from None
            source = io.BytesIO(weights)
        elif self.filepath.endswith(".weights.h5"):
            source = self.filepath
        else:
            raise ArgumentError("Invalid filename: expected a `.keras` or `.weights.h5` "
                                f"extension. Received: filepath={self.filepath}")
        with keras_import._read_h5(source, where) as h5:
            from kbridge.saving import legacy_h5

            legacy_h5.check_self_contained(h5, where)
            self.object_metadata = {}
            self.weights_dict = self._read(h5, "", where)
        print(f"Keras model file '{self.filepath}'")
        if self.metadata:
            print(f"Saved with Keras {self.metadata.get('keras_version')} - date: "
                  f"{self.metadata.get('date_saved')}")

    # --- reading ----------------------------------------------------------------------
    def _read(self, group, path, where):
        """``{name: array | dict}`` for an h5 group: its ``vars`` datasets and sub-groups."""
        import h5py

        out = {}
        if "name" in group.attrs:
            self.object_metadata[path] = dict(group.attrs)
        for key in group.keys():
            item = group[key]
            if key == "vars" and isinstance(item, h5py.Group):
                if item.attrs:
                    self.object_metadata[path] = dict(item.attrs)
                for name in item.keys():
                    dataset = item[name]
                    if not isinstance(dataset, h5py.Dataset):
                        continue
                    size = int(np.prod(dataset.shape, dtype=np.int64)) * dataset.dtype.itemsize
                    if size > _MAX_DATASET_BYTES:
                        raise ReleaseError(f"{where}: dataset {dataset.name} declares {size} "
                                           "bytes, above the 4 GiB limit")
                    from kbridge.saving.keras_format import read_dataset

                    out[name] = read_dataset(dataset)
            elif isinstance(item, h5py.Group):
                child = self._read(item, f"{path}/{key}" if path else key, where)
                if child:
                    out[key] = child
        return out

    # --- inspecting -------------------------------------------------------------------
    def summary(self):
        """Print the objects and weights of the file as a tree."""
        print(self.weights_summary(print_fn=None))

    def weights_summary(self, print_fn=print):
        """The tree of objects and weights (``name: shape dtype``), printed by ``print_fn``
        (returned as a string when ``print_fn`` is None)."""
        lines = []

        def walk(d, depth):
            for key, value in d.items():
                if isinstance(value, dict):
                    lines.append(f"{'  ' * depth}{key}/")
                    walk(value, depth + 1)
                else:
                    lines.append(f"{'  ' * depth}{key}: shape={tuple(value.shape)} "
                                 f"dtype={value.dtype}")

        walk(self.weights_dict, 0)
        text = "\n".join(lines)
        if print_fn is None:
            return text
        print_fn(text)
        return None

    def compare(self, reference_model):
        """Compare the file with ``reference_model``'s weights (objects and shapes).

        Returns ``{"status": "success" | "error", "error_count": n, "match_count": m}`` and
        prints each mismatch.

        Example:
            >>> kbridge.saving.KerasFileEditor("m.keras").compare(model)["status"]
            'success'
        """
        reference = _weight_spec(reference_model)
        errors, matches = [], 0

        def walk(ours, theirs, path):
            nonlocal matches
            for key in list(theirs) + [k for k in ours if k not in theirs]:
                where = f"{path}/{key}"
                if key not in ours:
                    kind = "Object" if isinstance(theirs[key], dict) else "Weight"
                    errors.append(f"{kind} {where} present in reference model, missing from "
                                  "saved file")
                elif key not in theirs:
                    kind = "Object" if isinstance(ours[key], dict) else "Weight"
                    errors.append(f"{kind} {where} present in saved file, missing from "
                                  "reference model")
                elif isinstance(theirs[key], dict) and isinstance(ours[key], dict):
                    walk(ours[key], theirs[key], where)
                elif isinstance(theirs[key], dict) or isinstance(ours[key], dict):
                    errors.append(f"{where} is an object in one and a weight in the other")
                elif tuple(ours[key].shape) != tuple(theirs[key]):
                    errors.append(f"Weight shape mismatch for {where}: reference model "
                                  f"shape={tuple(theirs[key])}, saved file "
                                  f"shape={tuple(ours[key].shape)}")
                else:
                    matches += 1

        walk(self.weights_dict, reference, "")
        for line in errors:
            print(f"...{line}")
        if errors:
            print(f"Found {len(errors)} error{'s' * (len(errors) != 1)}: saved file is not "
                  "compatible with the reference model")
        else:
            print(f"Comparison successful: saved file is compatible with the reference model\n"
                  f"    Found {matches} matching weight{'s' * (matches != 1)}")
        return {"status": "error" if errors else "success", "error_count": len(errors),
                "match_count": matches}

    # --- editing ----------------------------------------------------------------------
    def _parent(self, parts, missing):
        """The dict below ``weights_dict`` that holds path ``parts``' last part; ``missing``
        is the path an error names when a step is not there."""
        parent = self.weights_dict
        for part in parts[:-1]:
            if not isinstance(parent.get(part), dict):
                raise ArgumentError(f"Path '{missing}' not found in the file.")
            parent = parent[part]
        return parent

    def _locate(self, object_name):
        """``(parent dict, key)`` of an object given by path (``"layers/dense"``) or by a
        name that occurs exactly once."""
        if "/" in object_name:
            parts = object_name.split("/")
            parent = self._parent(parts, object_name)
            if parts[-1] not in parent:
                raise ArgumentError(f"Path '{object_name}' not found in the file.")
            return parent, parts[-1]
        found = []

        def walk(d):
            for key, value in d.items():
                if isinstance(value, dict):
                    if key == object_name:
                        found.append((d, key))
                    walk(value)

        walk(self.weights_dict)
        if len(found) > 1:
            raise ArgumentError(f"Name '{object_name}' occurs more than once in the file; pass "
                                "its full path (see weights_summary()).")
        if not found:
            raise ArgumentError(f"Object '{object_name}' does not appear in the file. Use "
                                "`editor.weights_summary()` to list all objects.")
        return found[0]

    def rename_object(self, object_name, new_name):
        """Rename an object (``"dense_2"`` or ``"layers/dense_2"``) to the leaf ``new_name``."""
        if "/" in new_name:
            raise ArgumentError("Argument `new_name` should be a leaf name, not a path. "
                                f"Received: new_name='{new_name}'")
        parent, key = self._locate(object_name)
        if new_name in parent:
            raise ArgumentError(f"Cannot rename '{object_name}' to '{new_name}': an object of "
                                "that name exists there.")
        # Rebuild the dict so the renamed object keeps its place.
        items = [(new_name if k == key else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)

    def delete_object(self, object_name):
        """Remove an object (and its sub-objects) from the file."""
        parent, key = self._locate(object_name)
        del parent[key]

    def add_object(self, object_path, weights):
        """Add an object at ``object_path`` (e.g. ``"layers/dense_2"``) with
        ``weights={"0": array, ...}``."""
        weights = _check_weights(weights)
        parts = object_path.split("/")
        parent = self._parent(parts, "/".join(parts[:-1]))
        if parts[-1] in parent:
            raise ArgumentError(f"Object '{object_path}' already exists in the file.")
        parent[parts[-1]] = weights

    def delete_weight(self, object_name, weight_name):
        """Remove the weight ``weight_name`` (e.g. ``"1"``) of an object."""
        parent, key = self._locate(object_name)
        if weight_name not in parent[key] or isinstance(parent[key][weight_name], dict):
            names = [k for k, v in parent[key].items() if not isinstance(v, dict)]
            raise ArgumentError(f"Weight {weight_name} not found in object {object_name}. "
                                f"Weights found: {names}")
        del parent[key][weight_name]

    def add_weights(self, object_name, weights):
        """Add weights (``{"2": array}``) to an existing object."""
        weights = _check_weights(weights)
        parent, key = self._locate(object_name)
        parent[key].update(weights)

    def save(self, filepath):
        """Write the (edited) weights as a ``.weights.h5`` file."""
        filepath = os.fspath(filepath)
        if not filepath.endswith(".weights.h5"):
            raise ArgumentError("Invalid `filepath` argument: expected a `.weights.h5` "
                                f"extension. Received: filepath={filepath}")
        from kbridge.saving import keras_format

        h5py = keras_format._h5py()

        def write(tmp):
            with h5py.File(tmp, "w") as h5:
                _write(h5, self.weights_dict, "", self.object_metadata)

        keras_format._atomic_write(filepath, write)

    def resave_weights(self, filepath):
        """:meth:`save` under Keras's older name."""
        self.save(filepath)


def _check_weights(weights):
    if not isinstance(weights, dict):
        raise ArgumentError("Argument `weights` should be a dict where keys are weight names "
                            "(usually '0', '1', etc.) and values are NumPy arrays. "
                            f"Received: type(weights)={type(weights)}")
    return {str(k): np.asarray(v) for k, v in weights.items()}


def _write(h5, tree, path, metadata):
    arrays = {k: v for k, v in tree.items() if not isinstance(v, dict)}
    if arrays:
        group = h5.require_group(f"{path}/vars" if path else "vars")
        for key, value in metadata.get(path, {}).items():
            group.attrs[key] = value
        for key, value in arrays.items():
            value = np.array(value, order="C")
            if str(value.dtype) == "bfloat16":
                group.create_dataset(key, data=value).attrs["dtype"] = "bfloat16"
            else:
                group[key] = value
    for key, value in tree.items():
        if isinstance(value, dict):
            _write(h5, value, f"{path}/{key}" if path else key, metadata)


def _weight_spec(model):
    """The nested ``{name: shape | dict}`` of ``model`` in Keras's layout."""
    from kbridge.saving import keras_format

    spec = {}
    for path, _, variables in keras_format.layout(model):
        if not variables:
            continue
        node = spec
        for part in [p for p in path.split("/") if p]:
            node = node.setdefault(part, {})
        for i, v in enumerate(variables):
            node[str(i)] = tuple(v.shape)
    return spec
