"""kbridge.config, backend additions, mixed_precision, dtype_policies, ops.numpy re-exports,
utils names, legacy serialization and the progress bar's logging settings."""

import io
import logging
import subprocess
import sys

import keras
import numpy as np
import pytest

import kbridge
from kbridge import config, dtype_policies, utils


@pytest.fixture
def restore_settings():
    saved = (config.floatx(), config.epsilon(), config.image_data_format(),
             dict(config._settings))
    yield
    config.set_floatx(saved[0])
    config.set_epsilon(saved[1])
    config.set_image_data_format(saved[2])
    config._settings.clear()
    config._settings.update(saved[3])
    kbridge.backend.clear_session()


def test_config_numeric_settings_are_kbridge_backend_settings(restore_settings):
    config.set_floatx("float64")
    config.set_epsilon(1e-5)
    config.set_image_data_format("channels_first")
    assert kbridge.backend.floatx() == "float64" and kbridge.backend.epsilon() == 1e-5
    assert kbridge.backend.image_data_format() == "channels_first"
    with kbridge.backend.use("numpy"):   # (jax keeps float32 without jax_enable_x64)
        assert kbridge.ops.ones((1,)).dtype == "float64"
    with pytest.raises(kbridge.ArgumentError):
        config.set_image_data_format("nhwc")


def test_config_flags_like_keras(restore_settings):
    for ours, theirs in ((config, keras.config),):
        assert ours.is_flash_attention_enabled() is theirs.is_flash_attention_enabled() is None
        ours.enable_flash_attention()
        assert ours.is_flash_attention_enabled() is True
        ours.disable_flash_attention()
        assert ours.is_flash_attention_enabled() is False
        assert ours.is_traceback_filtering_enabled() is theirs.is_traceback_filtering_enabled()
        ours.disable_traceback_filtering()
        assert ours.is_traceback_filtering_enabled() is False
    assert config.is_nnx_enabled() is False
    assert config.in_safe_mode() is None
    config.enable_unsafe_deserialization()
    assert config.in_safe_mode() is False
    config.set_max_epochs(2)
    config.set_max_steps_per_epoch(3)
    assert (config.max_epochs(), config.max_steps_per_epoch()) == (2, 3)
    with pytest.raises(kbridge.ArgumentError, match="positive int"):
        config.set_max_epochs(0)
    assert config.fit_limits(10, None) == (2, 3)
    assert config.fit_limits(1, 2) == (1, 2)
    config.set_max_epochs(None)
    config.set_max_steps_per_epoch(None)
    assert config.max_epochs() is None and config.fit_limits(10, None) == (10, None)


def test_clear_session_resets_names_and_global_settings(restore_settings):
    def build():
        inputs = kbridge.Input((4,))
        x = kbridge.layers.Dense(3)(inputs)
        return kbridge.Model(inputs, kbridge.layers.Dense(2)(x))

    kbridge.backend.clear_session()
    first = [layer.name for layer in build().layers]
    second = [layer.name for layer in build().layers]
    assert first != second
    config.set_dtype_policy("mixed_float16")
    config.disable_interactive_logging()
    config.enable_flash_attention()
    config.enable_unsafe_deserialization()
    utils.clear_session(free_memory=False)
    assert [layer.name for layer in build().layers] == first
    assert config.dtype_policy().name == "float32"
    assert config.is_interactive_logging_enabled() and config.in_safe_mode() is None
    assert config.is_flash_attention_enabled() is None


def test_get_uid_shares_keras_counters(restore_settings):
    kbridge.backend.clear_session()
    keras.backend.clear_session()
    ours = [kbridge.backend.get_uid("dense"), kbridge.backend.get_uid("dense")]
    theirs = [keras.backend.get_uid("dense"), keras.backend.get_uid("dense")]
    assert ours == theirs == [1, 2]
    assert kbridge.layers.Dense(1).name == keras.layers.Dense(1).name == "dense_2"


def test_dtype_predicates_like_keras():
    for dtype in ("float16", "bfloat16", "float64", "int8", "uint32", "bool", "complex64"):
        assert kbridge.backend.is_float_dtype(dtype) == keras.backend.is_float_dtype(dtype)
        assert kbridge.backend.is_int_dtype(dtype) == keras.backend.is_int_dtype(dtype)


def test_version():
    assert kbridge.version() == kbridge.__version__


def test_set_backend_switches_the_default():
    code = ("import kbridge; kbridge.config.set_backend('numpy'); "
            "print(kbridge.config.backend(), type(kbridge.ops.ones((1,))).__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["numpy", "numpy"]


def test_mixed_precision_names(restore_settings):
    from kbridge import mixed_precision as mp

    assert mp.Policy is mp.DTypePolicy is kbridge.DTypePolicy
    mp.set_global_policy("mixed_bfloat16")
    assert mp.global_policy().name == "mixed_bfloat16"
    assert kbridge.layers.Dense(2).compute_dtype == "bfloat16"
    mp.set_global_policy(None)
    assert mp.dtype_policy().name == "float32"
    assert mp.LossScaleOptimizer is kbridge.optimizers.LossScaleOptimizer


def test_dtype_policy_map_like_keras():
    ours = dtype_policies.DTypePolicyMap(default_policy="float32")
    theirs = keras.dtype_policies.DTypePolicyMap(default_policy="float32")
    for m in (ours, theirs):
        m["encoder/layer_0/dense"] = "bfloat16"
        m["encoder/.*"] = "float16"
        m["decoder"] = "bfloat16"
    for path in ("encoder/layer_0/dense", "encoder/attention/query", "decoder/attention",
                 "decoder"):
        assert ours[path].name == theirs[path].name
    assert len(ours) == 3 and "decoder" in ours and ours.name == "map_float32"
    ours["encoder/attention/.*"] = "bfloat16"
    with pytest.raises(ValueError, match="several"):
        ours["encoder/attention/query"]
    with pytest.raises(ValueError, match="already"):
        ours["decoder"] = "float32"
    restored = dtype_policies.deserialize(dtype_policies.serialize(ours))
    assert restored == ours and restored["encoder/x"].name == "float16"


def test_float_dtype_policy_reads_keras_configs():
    # What keras.dtype_policies.serialize(FloatDTypePolicy("float16")) writes (calling it
    # imports TensorFlow: 7 s).
    config_ = {"module": "keras", "class_name": "FloatDTypePolicy",
               "config": {"name": "float16"}, "registered_name": None}
    policy = dtype_policies.deserialize(config_)
    assert isinstance(policy, kbridge.FloatDTypePolicy) and policy.compute_dtype == "float16"
    assert dtype_policies.serialize(policy)["class_name"] == "FloatDTypePolicy"


def test_ops_numpy_has_keras_ops_numpy_names():
    missing = [n for n in dir(keras.ops.numpy) if not n.startswith("_")
               and not hasattr(kbridge.ops.numpy, n)]
    assert not missing
    assert kbridge.ops.numpy.sum is kbridge.ops.sum
    assert kbridge.ops.numpy.where is kbridge.ops.where


def test_pack_unpack_like_keras():
    x, y, w = np.ones(2), np.zeros(2), np.full(2, 0.5)
    for args in ((x,), (x, y), (x, y, w), ([x, x],), ((x,), y)):
        ours = utils.pack_x_y_sample_weight(*args)
        theirs = keras.utils.pack_x_y_sample_weight(*args)
        assert type(ours) is type(theirs)
        if isinstance(theirs, tuple):
            assert len(ours) == len(theirs) and all(o is t for o, t in zip(ours, theirs))
    for data in (x, (x,), (x, y), [x, y, w]):
        ours = utils.unpack_x_y_sample_weight(data)
        theirs = keras.utils.unpack_x_y_sample_weight(data)
        assert [o is None for o in ours] == [t is None for t in theirs]
    with pytest.raises(ValueError):
        utils.unpack_x_y_sample_weight((x, y, w, w))


def test_get_source_inputs_and_keras_tensor_checks():
    a, b = kbridge.Input((2,)), kbridge.Input((2,))
    out = kbridge.layers.Dense(3)(kbridge.layers.Add()([a, b]) * 2.0)
    sources = utils.get_source_inputs(out)
    assert len(sources) == 2 and sources[0] is a and sources[1] is b
    assert utils.get_source_inputs(a)[0] is a
    assert utils.is_keras_tensor(out) and not utils.is_keras_tensor(np.ones(2))
    for dtype in (float, "float64", np.dtype("int8"), None):
        assert utils.standardize_dtype(dtype) == keras.utils.standardize_dtype(dtype)


def test_config_object_like_keras():
    for cls in (utils.Config, keras.utils.Config):
        c = cls(lr=0.1)
        c.epochs = 3
        c["batch"] = 8
        assert (c.lr, c["epochs"], sorted(c), len(c), "batch" in c) == \
            (0.1, 3, ["batch", "epochs", "lr"], 3, True)
        assert c.as_dict() == {"lr": 0.1, "epochs": 3, "batch": 8}
        c.freeze()
        assert c.frozen
        with pytest.raises(Exception, match="frozen"):
            c.epochs = 4
        c.unfreeze()
        c.update(epochs=5)
        assert c.pop("epochs") == 5 and c.to_json() == '{"lr": 0.1, "batch": 8}'
        with pytest.raises(AttributeError):
            c.missing


def test_model_to_dot_and_plot_model(tmp_path):
    inputs = kbridge.Input((4,), name="features")
    hidden = kbridge.layers.Dense(3, activation="relu", name="hidden")(inputs)
    model = kbridge.Model(inputs, kbridge.layers.Dense(1, name="score")(hidden))
    dot = utils.model_to_dot(model, show_shapes=True, show_layer_activations=True)
    text = dot.to_string()
    assert "hidden (Dense)" in text and "activation: relu" in text and "(None, 3)" in text
    assert len(dot.get_edges()) == 2
    seq = kbridge.Sequential([kbridge.Input((4,)), kbridge.layers.Dense(2),
                              kbridge.layers.Dense(1)])
    assert len(utils.model_to_dot(seq).get_edges()) == 1
    import shutil

    if shutil.which("dot") is None:
        with pytest.raises(ImportError, match="graphviz"):
            utils.plot_model(model, to_file=str(tmp_path / "m.png"))
    else:
        utils.plot_model(model, to_file=str(tmp_path / "m.png"))
        assert (tmp_path / "m.png").stat().st_size > 0


def test_serialization_names_are_the_saving_ones():
    for name in ("serialize_keras_object", "deserialize_keras_object", "custom_object_scope",
                 "register_keras_serializable", "get_registered_object", "CustomObjectScope"):
        assert getattr(utils, name) is getattr(kbridge.saving, name)
    layer = utils.deserialize_keras_object(utils.serialize_keras_object(kbridge.layers.Dense(2)))
    assert layer.units == 2


def test_layers_serialize_roundtrip_and_keras_configs():
    layer = kbridge.layers.Dense(3, activation="relu", name="d")
    config_ = kbridge.layers.serialize(layer)
    again = kbridge.layers.deserialize(config_)
    assert (again.units, again.name, again.activation.__name__) == (3, "d", "relu")
    from_keras = kbridge.layers.deserialize(keras.layers.serialize(keras.layers.Dropout(0.25)))
    assert isinstance(from_keras, kbridge.layers.Dropout) and from_keras.rate == 0.25
    with pytest.raises(kbridge.ArgumentError, match="not a layer"):
        kbridge.layers.deserialize(kbridge.saving.serialize_keras_object(
            kbridge.initializers.Zeros()))


def test_legacy_format_like_keras():
    from kbridge.utils import legacy

    ours = legacy.serialize_keras_object(kbridge.layers.Dense(2, name="d"))
    theirs = keras.utils.legacy.serialize_keras_object(keras.layers.Dense(2, name="d"))
    assert set(ours) == set(theirs) == {"class_name", "config"}
    assert ours["class_name"] == theirs["class_name"]
    assert legacy.deserialize_keras_object(ours).units == 2
    assert kbridge.legacy.saving.deserialize_keras_object is legacy.deserialize_keras_object
    theirs = keras.utils.legacy.serialize_keras_object(keras.layers.Dropout(0.5, name="drop"))
    assert legacy.deserialize_keras_object(theirs).rate == 0.5
    assert legacy.serialize_keras_object(kbridge.activations.relu) == "relu"
    assert isinstance(legacy.deserialize_keras_object("Zeros"), kbridge.initializers.Zeros)
    with pytest.raises(kbridge.ArgumentError, match="Unknown layer"):
        legacy.deserialize_keras_object({"class_name": "Nope", "config": {}},
                                        printable_module_name="layer")


def test_progbar_averages_like_keras_and_honours_interactive_logging(restore_settings, caplog):
    values = [(1, [("loss", 1.0), ("acc", 0.5)]), (3, [("loss", 3.0), ("acc", 0.9)]),
              (4, [("loss", 2.0), ("acc", 0.1)])]
    for kwargs in ({}, {"stateful_metrics": ["acc"]}, {"stateless_metrics": ["loss"]}):
        ours = utils.Progbar(3, stream=io.StringIO(), **kwargs)
        theirs = keras.utils.Progbar(3, **kwargs)
        for step, vals in values:
            ours.update(step, vals)
            theirs.update(step, vals)
        for name in ("loss", "acc"):
            expected = theirs._values[name][0] / max(theirs._values[name][1], 1)
            assert ours._values[name] == pytest.approx(expected), (kwargs, name)
    stream = io.StringIO()
    config.disable_interactive_logging()
    with caplog.at_level(logging.INFO, logger="kbridge"):
        bar = utils.Progbar(2, stream=stream)
        bar.update(2, [("loss", 0.5)])
    assert stream.getvalue() == "" and "loss: 0.5000" in caplog.text
    config.enable_interactive_logging()
    bar = utils.Progbar(2, stream=stream)
    bar.update(2, [("loss", 0.5)])
    assert "loss: 0.5000" in stream.getvalue()
