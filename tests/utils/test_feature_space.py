"""FeatureSpace against Keras 3's on a small table (adapt from tf.data and from dicts), hashed
features and crosses, symbolic outputs, config and .keras round trips."""

import keras
import numpy as np
import pytest

import kbridge
from kbridge import ops
from kbridge.errors import ArgumentError, KbridgeError

FeatureSpace = kbridge.utils.FeatureSpace

rng = np.random.RandomState(0)
N = 24
TABLE = {
    "age": rng.uniform(10, 80, N).astype("float32"),
    "score": rng.randn(N).astype("float32"),
    "height": rng.uniform(1, 2, N).astype("float32"),
    "city": rng.choice(["paris", "rome", "oslo", "lima"], N),
    "kids": rng.randint(0, 4, N),
}
TYPES = {"age": "float_discretized", "score": "float_normalized", "height": "float",
         "city": "string_categorical", "kids": "integer_categorical"}


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _tf_table(batch=None):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(TABLE)
    return ds.batch(batch) if batch else ds


@pytest.mark.parametrize("output_mode, adapt_on", [
    ("concat", "batched"), ("dict", "unbatched"), ("concat", "dict")])
def test_matches_keras(output_mode, adapt_on):
    ours = FeatureSpace(TYPES, output_mode=output_mode, num_discretization_bins=4)
    theirs = keras.utils.FeatureSpace(TYPES, output_mode=output_mode, num_discretization_bins=4)
    data = {"batched": _tf_table(8), "unbatched": _tf_table(), "dict": TABLE}[adapt_on]
    ours.adapt(data)
    theirs.adapt(_tf_table(8) if adapt_on == "dict" else data)
    batch = {k: v[:7] for k, v in TABLE.items()}
    one = {k: v[3] for k, v in TABLE.items()}
    for inputs in (batch, one):
        got, want = ours(inputs), theirs(inputs)
        if output_mode == "concat":
            np.testing.assert_allclose(_np(got), np.asarray(want), atol=1e-5)
        else:
            assert sorted(got) == sorted(want)
            for name in want:
                assert _np(got[name]).shape == np.asarray(want[name]).shape
                np.testing.assert_allclose(_np(got[name]), np.asarray(want[name]), atol=1e-5)


def test_custom_specs_match_keras():
    def specs(module):
        fs = module.utils.FeatureSpace
        return {"age": fs.float_rescaled(scale=0.5, offset=1.0),
                "city": fs.string_categorical(max_tokens=3, num_oov_indices=2),
                "kids": fs.integer_categorical(output_mode="int"),
                "score": fs.float_discretized(num_bins=3, output_mode="int")}

    ours = FeatureSpace(specs(kbridge), output_mode="dict")
    theirs = keras.utils.FeatureSpace(specs(keras), output_mode="dict")
    ours.adapt(_tf_table(5))
    theirs.adapt(_tf_table(5))
    table = {k: TABLE[k] for k in ("age", "city", "kids", "score")}
    got, want = ours(table), theirs(table)
    for name in want:
        np.testing.assert_allclose(_np(got[name]), np.asarray(want[name]), atol=1e-5)


def test_hashed_features_and_crosses(backend):
    types = {"city": "string_hashed", "kids": "integer_hashed", "score": "float_normalized"}
    ours = FeatureSpace(types, crosses=[("city", "kids")], crossing_dim=8, hashing_dim=5)
    theirs = keras.utils.FeatureSpace(types, crosses=[("city", "kids")], crossing_dim=8,
                                      hashing_dim=5)
    table = {k: TABLE[k] for k in types}
    ours.adapt(table)
    theirs.adapt(table)
    out = ours(table)
    assert kbridge.backend.of(out) == backend
    out = _np(out)
    # kbridge hashes with a stable hash, not FarmHash: the layout matches Keras, bins differ
    assert out.shape == np.asarray(theirs(table)).shape == (N, 8 + 5 + 5 + 1)
    # sorted names: city, kids, score, then the cross city_X_kids
    for start, width in ((0, 5), (5, 5), (11, 8)):
        np.testing.assert_array_equal(out[:, start:start + width].sum(axis=1), np.ones(N))
    same_pair = (TABLE["city"] == TABLE["city"][0]) & (TABLE["kids"] == TABLE["kids"][0])
    assert (out[same_pair, 11:] == out[0, 11:]).all()
    np.testing.assert_allclose(out, _np(ours(TABLE)))


@pytest.mark.parametrize("output_mode", ["concat", "dict"])
def test_inside_tf_data_map_as_keras(output_mode):
    types = {"score": "float_normalized", "city": "string_categorical", "kids": "integer_hashed"}
    table = {k: TABLE[k] for k in types}
    ours = FeatureSpace(types, output_mode=output_mode, crosses=[("city", "kids")],
                        crossing_dim=4, hashing_dim=3)
    theirs = keras.utils.FeatureSpace(types, output_mode=output_mode,
                                      crosses=[("city", "kids")], crossing_dim=4, hashing_dim=3)
    ours.adapt(table)
    theirs.adapt(table)
    import tensorflow as tf

    batched = tf.data.Dataset.from_tensor_slices(table).batch(10)
    mapped = batched.map(ours)
    assert mapped.element_spec == batched.map(theirs).element_spec
    got = list(mapped)
    assert tf.data.Dataset.from_tensor_slices(table).map(ours).element_spec == \
        tf.data.Dataset.from_tensor_slices(table).map(theirs).element_spec
    if output_mode == "concat":
        np.testing.assert_allclose(np.concatenate([g.numpy() for g in got]), _np(ours(table)))


def test_symbolic_outputs_build_a_model():
    space = FeatureSpace({"score": "float_normalized", "kids": "integer_categorical"})
    space.adapt(TABLE)
    inputs = space.get_inputs()
    encoded = space.get_encoded_features()
    assert sorted(inputs) == ["kids", "score"] and tuple(encoded.shape) == (None, 6)
    head = kbridge.layers.Dense(1, kernel_initializer="ones")
    model = kbridge.Model(inputs, head(encoded))
    batch = {"score": TABLE["score"][:4, None], "kids": TABLE["kids"][:4, None]}
    np.testing.assert_allclose(_np(model(batch)), _np(head(space(batch))), rtol=1e-5)


def test_config_and_keras_archive_round_trip(tmp_path):
    space = FeatureSpace(TYPES, crosses=[FeatureSpace.cross(("city", "kids"), 4)],
                         num_discretization_bins=3)
    space.adapt(TABLE)
    fresh = FeatureSpace.from_config(space.get_config())
    assert sorted(fresh.features) == sorted(TYPES) and fresh.crosses[0].name == "city_X_kids"
    with pytest.raises(KbridgeError, match="adapt"):
        fresh(TABLE)
    space.save(tmp_path / "space.keras")
    loaded = kbridge.saving.load_model(tmp_path / "space.keras")
    np.testing.assert_allclose(_np(loaded(TABLE)), _np(space(TABLE)))


def test_errors():
    with pytest.raises(ArgumentError, match="unknown type"):
        FeatureSpace({"a": "float_weird"})
    with pytest.raises(ArgumentError, match="output_mode"):
        FeatureSpace({"a": "float"}, output_mode="list")
    with pytest.raises(ArgumentError, match="not in `features`"):
        FeatureSpace({"a": "float"}, crosses=[("a", "b")])
    space = FeatureSpace({"kids": FeatureSpace.integer_categorical(output_mode="int")})
    with pytest.raises(ArgumentError, match="concatenate"):  # found when adapting, as Keras
        space.adapt(TABLE)
    space = FeatureSpace({"kids": "integer_categorical"})
    space.adapt(TABLE)
    with pytest.raises(ArgumentError, match="dict"):
        space(TABLE["kids"])
    with pytest.raises(ArgumentError, match="tf.data.Dataset or a dict"):
        space.adapt([1, 2])
