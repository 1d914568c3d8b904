"""TextVectorization: vocabulary, outputs and tf-idf weights identical to Keras 3 on every
backend, the tf.data / tf.function path, configs that carry the vocabulary, and fit."""

import functools

import numpy as np
import pytest

import kbridge
from kbridge.errors import ArgumentError
from tests.layers.harness import keras_module, to_numpy

L = kbridge.layers
CORPUS = np.array(["The cat sat on the mat.", "The dog ate my homework!",
                   "A cat, a dog; a bird?", "Ünïcode WORDS here", "the end"])
TEXTS = np.array(["the cat ate a fish", "dog", "Ünïcode!! DOG", ""])

CONFIGS = {
    "int": {},
    "int_length_ngrams": {"output_sequence_length": 8, "ngrams": (1, 3), "max_tokens": 12},
    "character_lower": {"split": "character", "standardize": "lower",
                        "output_sequence_length": 6},
    "no_split": {"split": None, "standardize": "strip_punctuation"},
    "multi_hot": {"output_mode": "multi_hot", "ngrams": 2},
    "count_padded": {"output_mode": "count", "max_tokens": 20, "pad_to_max_tokens": True},
    "tf_idf": {"output_mode": "tf_idf", "max_tokens": 9},
    "one_hot": {"output_mode": "one_hot", "split": None, "standardize": "lower"},
    # Keras reads unsplit rank-1 input as one document
    "count_unsplit": {"output_mode": "count", "split": None},
}


@functools.lru_cache(maxsize=None)
def keras_reference(name):
    """(vocabulary, outputs on TEXTS) of Keras 3's layer adapted on CORPUS."""
    keras = keras_module()
    tf = pytest.importorskip("tensorflow")
    layer = keras.layers.TextVectorization(**CONFIGS[name])
    layer.adapt(CORPUS)
    vocab = [str(t) for t in layer.get_vocabulary()]
    return vocab, np.asarray(layer(tf.constant(TEXTS)))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_keras(name, backend):
    vocab, expected = keras_reference(name)
    layer = L.TextVectorization(**CONFIGS[name])
    layer.adapt(CORPUS)
    assert layer.get_vocabulary() == vocab
    assert layer.vocabulary_size() == len(vocab)
    out = layer(TEXTS)
    assert kbridge.backend.of(out) == backend
    got = to_numpy(out)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    # the vocabulary (and tf-idf weights) travel in the config
    clone = L.TextVectorization.from_config(layer.get_config())
    assert clone.get_vocabulary() == vocab
    np.testing.assert_allclose(to_numpy(clone(list(TEXTS))), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["int", "int_length_ngrams", "character_lower", "no_split",
                                  "count_padded", "tf_idf", "one_hot", "count_unsplit"])
def test_tf_data_and_tf_function_match_keras(name):
    tf = pytest.importorskip("tensorflow")
    _, expected = keras_reference(name)
    with kbridge.backend.use("tensorflow"):
        layer = L.TextVectorization(**CONFIGS[name])
        layer.adapt(tf.data.Dataset.from_tensor_slices(CORPUS).batch(2))
    mapped = tf.data.Dataset.from_tensor_slices(TEXTS).batch(len(TEXTS)).map(layer)
    np.testing.assert_allclose(next(iter(mapped)).numpy(), expected, rtol=1e-6, atol=1e-6)
    traced = tf.function(lambda s: layer(s))(tf.constant(TEXTS))
    np.testing.assert_allclose(traced.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_given_vocabulary_idf_and_callables_match_keras(tmp_path):
    keras = keras_module()
    tf = pytest.importorskip("tensorflow")
    vocab, idf = ["the", "cat", "dog", "a"], [0.5, 1.0, 1.5, 0.25]
    texts = tf.constant(["The cat, the dog", "a,b,cat"])
    for kwargs in [{"output_mode": "tf_idf", "vocabulary": vocab, "idf_weights": idf},
                   {"vocabulary": vocab, "split": lambda s: tf.strings.split(s, sep=","),
                    "standardize": lambda s: np.char.lower(s)}]:
        expected = np.asarray(keras.layers.TextVectorization(**kwargs)(texts))
        got = to_numpy(L.TextVectorization(**kwargs)(np.array(["The cat, the dog", "a,b,cat"])))
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    # callables go into configs as registered names
    with pytest.raises(ArgumentError, match="register"):
        L.TextVectorization(standardize=lambda s: s).get_config()

    @kbridge.saving.register_kbridge_serializable(package="test_text_vectorization")
    def shout(strings):
        return np.char.upper(strings)

    layer = L.TextVectorization(standardize=shout, vocabulary=["A"])
    clone = L.TextVectorization.from_config(layer.get_config())
    assert clone.standardize is shout
    np.testing.assert_array_equal(to_numpy(clone(["a b"])), [[2, 1]])
    # a vocabulary file given in code; set_vocabulary replaces the vocabulary
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    layer = L.TextVectorization(vocabulary=str(path))
    assert layer.get_vocabulary() == ["", "[UNK]"] + vocab
    np.testing.assert_array_equal(to_numpy(layer(["a dog bird"])), [[5, 4, 1]])
    layer.set_vocabulary(["bird"])
    np.testing.assert_array_equal(to_numpy(layer(["a dog bird"])), [[1, 1, 2]])
    # ... but a config (perhaps from a downloaded release) never names a file to read
    config = layer.get_config()
    config["vocabulary"] = str(path)
    with pytest.raises(ArgumentError, match="file path"):
        L.TextVectorization.from_config(config)


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(ArgumentError, match="output_mode"):
        L.TextVectorization(output_mode="binary_counts")
    with pytest.raises(ArgumentError, match="split=None"):
        L.TextVectorization(output_mode="one_hot")
    with pytest.raises(ArgumentError, match="ngrams"):
        L.TextVectorization(ngrams=(1, "2"))
    with pytest.raises(ArgumentError, match="output_sequence_length"):
        L.TextVectorization(output_mode="count", output_sequence_length=4)
    with pytest.raises(ArgumentError, match="standardize"):
        L.TextVectorization(standardize="upper")
    with kbridge.backend.use("numpy"):
        with pytest.raises(ArgumentError, match="tensorflow"):
            L.TextVectorization(ragged=True)
    with pytest.raises(ArgumentError, match="idf_weights"):
        L.TextVectorization(output_mode="tf_idf", vocabulary=["a", "b"])
    with pytest.raises(ArgumentError, match="last axis of 1"):
        L.TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))


def test_model_with_vectorizer_saves_and_reloads(tmp_path):
    tf = pytest.importorskip("tensorflow")
    # Functional models convert numpy inputs to tensors, so strings go in as TF tensors
    with kbridge.backend.use("tensorflow"):
        layer = L.TextVectorization(output_mode="tf_idf", ngrams=2)
        layer.adapt(CORPUS)
        inputs = kbridge.Input(shape=(1,), dtype="string")
        model = kbridge.Model(inputs, L.Dense(2)(layer(inputs)))
    text = tf.constant([["Good movie!"], ["the cat, THE CAT"]])
    expected = to_numpy(model(text))
    kbridge.hub.save(model, str(tmp_path / "release"))
    loaded = kbridge.hub.load(str(tmp_path / "release"), backend="tensorflow")
    np.testing.assert_allclose(to_numpy(loaded(text)), expected, rtol=1e-6)


def test_fit_on_vectorized_text(trainable_backend):
    tf = pytest.importorskip("tensorflow")
    corpus = np.array(["good movie great fun", "bad movie awful", "great good fun",
                       "awful bad boring"] * 4)
    labels = np.array([1, 0, 1, 0] * 4, "float32")[:, None]
    vectorize = L.TextVectorization(output_mode="multi_hot")
    vectorize.adapt(corpus)
    # the Keras recipe for every backend: vectorise in the tf.data pipeline
    ds = tf.data.Dataset.from_tensor_slices((corpus, labels)).batch(8).map(
        lambda s, y: (vectorize(s), y))
    model = kbridge.Sequential([kbridge.Input((vectorize.vocabulary_size(),)),
                                L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=kbridge.optimizers.Adam(0.1), loss="binary_crossentropy")
    losses = model.fit(ds, epochs=4, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    # inside a model too: numpy strings go straight in
    inputs = kbridge.Input(shape=(1,), dtype="string")
    dense = model.layers[-1]
    end_to_end = kbridge.Model(inputs, dense(vectorize(inputs)))
    np.testing.assert_allclose(to_numpy(end_to_end(corpus[:4, None])),
                               to_numpy(model(vectorize(corpus[:4]))), rtol=1e-6)
    if trainable_backend == "tensorflow":  # and trained there, traced by tf.function
        inputs = kbridge.Input(shape=(1,), dtype="string")
        model = kbridge.Model(inputs, L.Dense(1, activation="sigmoid")(vectorize(inputs)))
        model.compile(optimizer=kbridge.optimizers.Adam(0.1), loss="binary_crossentropy")
        losses = model.fit(corpus[:, None], labels, batch_size=8, epochs=4,
                           verbose=0).history["loss"]
        assert losses[-1] < losses[0]


def test_reads_a_keras_archive_vocabulary_and_idf(tmp_path):
    keras = keras_module()
    tf = pytest.importorskip("tensorflow")
    h5py = pytest.importorskip("h5py")
    import zipfile

    reference = keras.layers.TextVectorization(output_mode="tf_idf", max_tokens=8,
                                               pad_to_max_tokens=True, name="tv")
    reference.adapt(CORPUS)
    keras.Sequential([keras.Input((1,), dtype="string"), reference]).save(tmp_path / "m.keras")
    zipfile.ZipFile(tmp_path / "m.keras").extractall(tmp_path)
    config = {k: v for k, v in reference.get_config().items() if k != "dtype"}
    layer = L.TextVectorization.from_config(config)  # Keras's config has no vocabulary
    # Keras names the archive entries after the layer class
    with h5py.File(tmp_path / "model.weights.h5") as f:
        idf = f["layers/text_vectorization/vars/idf_weights"][()]
    layer.load_own_variables({"idf_weights": idf})
    layer.load_assets(str(tmp_path / "assets" / "layers" / "text_vectorization"))
    assert layer.get_vocabulary() == [str(t) for t in reference.get_vocabulary()]
    np.testing.assert_allclose(to_numpy(layer(TEXTS)), np.asarray(reference(tf.constant(TEXTS))),
                               rtol=1e-6)
    # and writes the same files
    layer.save_assets(str(tmp_path))
    assert (tmp_path / "vocabulary.txt").read_text(encoding="utf-8").splitlines() == \
        layer.get_vocabulary()


def test_sparse_and_ragged_outputs_on_tensorflow():
    tf = pytest.importorskip("tensorflow")
    _, dense_counts = keras_reference("count_padded")
    _, dense_ids = keras_reference("int")
    with kbridge.backend.use("tensorflow"):
        sparse = L.TextVectorization(sparse=True, **CONFIGS["count_padded"])
        ragged = L.TextVectorization(ragged=True)
    sparse.adapt(CORPUS)
    ragged.adapt(CORPUS)
    for call in (lambda layer, s: layer(s), lambda layer, s: tf.function(layer)(tf.constant(s))):
        out = call(sparse, TEXTS)
        assert isinstance(out, tf.SparseTensor)
        np.testing.assert_allclose(tf.sparse.to_dense(out).numpy(), dense_counts)
        rows = call(ragged, TEXTS)
        assert isinstance(rows, tf.RaggedTensor)
        np.testing.assert_array_equal(rows.to_tensor(0).numpy(), dense_ids)
        assert [len(r) for r in rows.to_list()] == [5, 1, 2, 0]
