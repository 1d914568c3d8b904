"""kbridge.saving's Keras-named API: round trips, registration, safe_mode, checkpoints,
KerasFileEditor, and clear errors for bad paths and malformed files."""

import io
import json
import os
import warnings
import zipfile

import numpy as np
import pytest

import kbridge
from kbridge import ops
from kbridge.errors import ArgumentError, KbridgeError
from kbridge.hub import ReleaseError
from kbridge.saving.registry import UnsafeDeserializationError
from tests.conftest import DIFFERENTIABLE
from tests.layers.harness import keras_module

X = np.random.default_rng(0).random((4, 4)).astype("float32")
Y = np.random.default_rng(1).random((4, 2)).astype("float32")


def small(units=5):
    L = kbridge.layers
    return kbridge.Sequential([kbridge.Input((4,)), L.Dense(units, activation="relu"),
                               L.BatchNormalization(), L.Dense(2)])


def _out(model):
    return ops.convert_to_numpy(model(X))


def _steps(model, n=2):
    rng = np.random.default_rng(2)
    variables = model.trainable_variables
    model.optimizer.build(variables)
    for _ in range(n):
        model.optimizer.apply([rng.normal(size=v.shape).astype("float32") for v in variables],
                              variables)


# --- round trips ----------------------------------------------------------------------------
def test_keras_archive_round_trip_keeps_compile_and_optimizer_state(tmp_path, backend):
    model = small()
    model.compile(optimizer=kbridge.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    if backend != "numpy":
        _steps(model)
    model.save(tmp_path / "m.keras")
    back = kbridge.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(_out(back), _out(model), rtol=1e-6, atol=1e-6)
    assert back.compiled and back.optimizer.learning_rate.numpy() == pytest.approx(0.01)
    assert back.backend_name == backend
    if backend != "numpy":
        for ours, theirs in zip(back.optimizer.variables, model.optimizer.variables):
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)
    assert not kbridge.models.load_model(tmp_path / "m.keras", compile=False).compiled
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        config = json.loads(archive.read("config.json"))
    assert config["module"] == "keras" and config["class_name"] == "Sequential"
    assert config["compile_config"]["loss"] == "mse"
    assert config["compile_config"]["metrics"] == ["mae"]
    assert config["compile_config"]["optimizer"]["module"] == "keras.optimizers"


def test_weights_files_round_trip(tmp_path):
    model, other = small(), small()
    model.save_weights(tmp_path / "w.weights.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_weights(tmp_path / "w.h5")
        model.save(tmp_path / "m.h5")
    model.save(tmp_path / "m.keras")
    for name in ("w.weights.h5", "w.h5", "m.keras", "m.h5"):
        other.set_weights([np.zeros_like(w) for w in other.get_weights()])
        other.load_weights(tmp_path / name)
        np.testing.assert_allclose(_out(other), _out(model), rtol=1e-6, err_msg=name)
    legacy = kbridge.saving.load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(_out(legacy), _out(model), rtol=1e-6)
    other.load_weights(tmp_path / "w.h5", by_name=True)


def test_unzipped_save_and_json(tmp_path):
    model = small()
    kbridge.saving.save_model(model, tmp_path / "dir", zipped=False)
    assert sorted(os.listdir(tmp_path / "dir")) == ["config.json", "metadata.json",
                                                   "model.weights.h5"]
    np.testing.assert_allclose(_out(kbridge.saving.load_model(tmp_path / "dir")), _out(model))
    buffer = io.BytesIO()
    model.save(buffer)  # an open file receives the archive
    (tmp_path / "buf.keras").write_bytes(buffer.getvalue())
    np.testing.assert_allclose(_out(kbridge.saving.load_model(tmp_path / "buf.keras")),
                               _out(model))
    clone = kbridge.models.model_from_json(model.to_json())
    assert [type(la).__name__ for la in clone.layers] == \
        [type(la).__name__ for la in model.layers]
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]


def test_bad_paths_and_arguments_are_clear_errors(tmp_path):
    model = small()
    with pytest.raises(ArgumentError, match="Invalid filepath extension.*m.txt"):
        model.save(tmp_path / "m.txt")
    with pytest.raises(ArgumentError, match=r"must end in `\.weights\.h5`"):
        model.save_weights(tmp_path / "w.npz")
    model.save(tmp_path / "m.keras")
    with pytest.raises(ArgumentError, match="overwrite=False"):
        model.save(tmp_path / "m.keras", overwrite=False)
    with pytest.raises(ArgumentError, match="not supported"):
        model.save(tmp_path / "m.keras", bogus=1)
    with pytest.raises(ArgumentError, match="by_name"):
        model.load_weights(tmp_path / "m.keras", by_name=True)
    with pytest.raises(ReleaseError, match="File not found"):
        kbridge.saving.load_model(tmp_path / "missing.keras")


# --- malformed files ------------------------------------------------------------------------
def test_malformed_archives_name_the_file(tmp_path):
    small().save(tmp_path / "good.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as archive:
        weights = archive.read("model.weights.h5")
        config = archive.read("config.json")
    cases = {
        "noconfig.keras": ({"model.weights.h5": weights}, "noconfig.keras: the archive has no "
                                                          "config.json"),
        "badjson.keras": ({"config.json": b"{not json", "model.weights.h5": weights},
                          "badjson.keras/config.json: not valid JSON"),
        "noclass.keras": ({"config.json": b"[1, 2]", "model.weights.h5": weights},
                          "noclass.keras/config.json: not a serialised model"),
        "badweights.keras": ({"config.json": config, "model.weights.h5": b"junk"},
                             "badweights.keras: not a readable HDF5 file"),
        "unknown.keras": ({"config.json": b'{"class_name": "Nope", "config": {}}',
                           "model.weights.h5": weights},
                          "unknown.keras/config.json: Unknown class 'Nope'"),
    }
    for name, (members, message) in cases.items():
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            for member, data in members.items():
                archive.writestr(member, data)
        with pytest.raises(ReleaseError, match=message.replace(".", r"\.")):
            kbridge.saving.load_model(tmp_path / name)
    bigger = small(units=6)
    with pytest.raises(ReleaseError, match="good.keras.*shape"):
        bigger.load_weights(tmp_path / "good.keras")



# --- registration and serialisation ---------------------------------------------------------
def test_registration_names_match_keras():
    @kbridge.saving.register_keras_serializable(package="my_pkg", name="Twice")
    class Doubler(kbridge.layers.Layer):
        def call(self, x):
            return x * 2

    class Sub(Doubler):
        pass

    assert kbridge.saving.get_registered_name(Doubler) == "my_pkg>Twice"
    assert kbridge.saving.get_registered_name(Sub) == "Sub"  # not inherited
    assert kbridge.saving.get_registered_object("my_pkg>Twice") is Doubler
    assert kbridge.saving.get_custom_objects()["my_pkg>Twice"] is Doubler
    config = kbridge.saving.serialize_keras_object(Doubler())
    assert config["registered_name"] == "my_pkg>Twice"
    assert type(kbridge.saving.deserialize_keras_object(config)) is Doubler
    with pytest.raises(KbridgeError, match="get_config"):
        kbridge.saving.register_keras_serializable()(type("NoConfig", (), {}))

    class Local(kbridge.layers.Layer):
        pass

    entry = {"module": None, "class_name": "Local", "config": {"name": "x"},
             "registered_name": None}
    with pytest.raises(KbridgeError, match="Unknown class 'Local'"):
        kbridge.saving.deserialize_keras_object(entry)
    with kbridge.saving.custom_object_scope({"Local": Local}):
        assert kbridge.saving.get_registered_object("Local") is Local
        assert type(kbridge.saving.deserialize_keras_object(entry)) is Local
    assert kbridge.saving.get_registered_object("Local") is None


def test_serialized_dicts_are_keras_dicts():
    keras = keras_module()
    ours = kbridge.saving.serialize_keras_object(
        kbridge.layers.Dense(3, kernel_regularizer="l2", name="d"))
    theirs = keras.saving.serialize_keras_object(
        keras.layers.Dense(3, kernel_regularizer="l2", name="d"))
    for key in ("module", "class_name", "registered_name"):
        assert ours[key] == theirs[key]
    assert ours["config"]["kernel_regularizer"]["module"] == "keras.regularizers"
    built = kbridge.saving.deserialize_keras_object(theirs)
    assert type(built).__name__ == "Dense" and built.units == 3
    # Keras's module field settles a name two families share.
    init = kbridge.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(keras.initializers.Identity()))
    assert isinstance(init, kbridge.initializers.Identity)


# --- safe_mode ------------------------------------------------------------------------------
def test_lambda_layers_need_safe_mode_false(tmp_path):
    inputs = kbridge.Input((4,))
    model = kbridge.Model(inputs, kbridge.layers.Lambda(lambda t: t * 3.0 + 1.0)(inputs))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(UnsafeDeserializationError, match="safe_mode=False"):
        kbridge.saving.load_model(tmp_path / "lambda.keras")
    loaded = kbridge.saving.load_model(tmp_path / "lambda.keras", safe_mode=False)
    np.testing.assert_allclose(_out(loaded), X * 3.0 + 1.0, rtol=1e-6)
    settings = kbridge.config._settings
    previous = settings["safe_mode"]
    try:
        kbridge.config.enable_unsafe_deserialization()
        kbridge.saving.load_model(tmp_path / "lambda.keras")
    finally:
        settings["safe_mode"] = previous


# --- ModelCheckpoint ------------------------------------------------------------------------
@pytest.mark.skipif(not DIFFERENTIABLE, reason="needs a backend with gradients")
def test_model_checkpoint_writes_keras_files(tmp_path):
    cbs = kbridge.callbacks
    with kbridge.backend.use(DIFFERENTIABLE[0]):
        model = small()
        model.compile(optimizer="sgd", loss="mse")
        callbacks = [
            cbs.ModelCheckpoint(str(tmp_path / "e{epoch}.keras"), monitor="loss"),
            cbs.ModelCheckpoint(str(tmp_path / "w.weights.h5"), save_weights_only=True),
            cbs.ModelCheckpoint(str(tmp_path / "last.h5"), monitor="loss"),
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, Y, epochs=2, batch_size=2, verbose=0, callbacks=callbacks)
        assert {"e1.keras", "e2.keras", "w.weights.h5", "last.h5"} <= \
            set(os.listdir(tmp_path))
        last = kbridge.saving.load_model(tmp_path / "e2.keras")
        np.testing.assert_allclose(_out(last), _out(model), rtol=1e-5, atol=1e-6)
        assert last.compiled
        fresh = small()
        fresh.load_weights(tmp_path / "w.weights.h5")
        np.testing.assert_allclose(_out(fresh), _out(model), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(_out(kbridge.saving.load_model(tmp_path / "last.h5")),
                                   _out(model), rtol=1e-5, atol=1e-6)
    with pytest.raises(ArgumentError, match=r"must end in `\.weights\.h5`"):
        cbs.ModelCheckpoint(str(tmp_path / "m.keras"), save_weights_only=True)
    with pytest.raises(ArgumentError, match=r"must end in `\.keras`"):
        cbs.ModelCheckpoint(str(tmp_path / "m.pt"))
    cbs.ModelCheckpoint(str(tmp_path / "release-{epoch:02d}-{loss:.2f}"))  # a release dir


# --- KerasFileEditor ------------------------------------------------------------------------
def test_keras_file_editor(tmp_path, capsys):
    model = small()
    model.save(tmp_path / "m.keras")
    editor = kbridge.saving.KerasFileEditor(tmp_path / "m.keras")
    assert editor.metadata["keras_version"] and editor.config["class_name"] == "Sequential"
    kernel = editor.weights_dict["layers"]["dense"]["0"]
    np.testing.assert_array_equal(kernel, model.layers[-3].kernel.numpy())
    assert "dense/" in editor.weights_summary(print_fn=None)
    assert editor.compare(model) == {"status": "success", "error_count": 0, "match_count": 8}
    assert editor.compare(small(units=6))["status"] == "error"
    editor.rename_object("dense_1", "head")
    editor.delete_weight("head", "1")
    editor.add_weights("head", {"1": np.full((2,), 7.0, "float32")})
    with pytest.raises(ArgumentError, match="does not appear"):
        editor.delete_object("nothing")
    editor.rename_object("head", "dense_1")
    editor.save(tmp_path / "edited.weights.h5")
    model.load_weights(tmp_path / "edited.weights.h5")
    np.testing.assert_array_equal(model.layers[-1].bias.numpy(), [7.0, 7.0])
    editor.delete_object("layers/batch_normalization")
    editor.save(tmp_path / "broken.weights.h5")
    with pytest.raises(ReleaseError, match="broken.weights.h5.*batch_normalization"):
        model.load_weights(tmp_path / "broken.weights.h5")
    other = small()
    with pytest.warns(UserWarning, match="Skipping the weights of layer 'batch_normaliz"):
        other.load_weights(tmp_path / "broken.weights.h5", skip_mismatch=True)
    np.testing.assert_array_equal(other.layers[-1].bias.numpy(), [7.0, 7.0])
    assert "Comparison successful" in capsys.readouterr().out
