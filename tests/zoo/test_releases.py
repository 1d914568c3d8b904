"""The digits releases shipped in the model zoo (zoo:digits-cnn, zoo:digits-mlp).

They load on every installed backend with the same predictions, keep the test accuracy their
card claims on the recipe's held-out split, are listed by ``model_zoo.list()`` and
``kbridge hub list``, and carry a model card with front matter and metrics.
"""

import os
import re

import numpy as np
import pytest

import kbridge
import model_zoo
from model_zoo.recipes import train_digits

from tests.conftest import BACKENDS

pytest.importorskip("sklearn")

RELEASES = {"digits-cnn": ("cnn", 0.97), "digits-mlp": ("mlp", 0.95)}


@pytest.fixture(scope="module")
def test_split():
    _, _, x_test, y_test = train_digits.load_split()
    return x_test, y_test


@pytest.fixture(scope="module")
def numpy_probabilities(test_split):
    """Reference predictions of each release on the numpy backend."""
    x_test, _ = test_split
    out = {}
    for name, (kind, _) in RELEASES.items():
        model = kbridge.hub.load(f"zoo:{name}", backend="numpy")
        with kbridge.backend.use("numpy"):
            out[name] = np.asarray(model.predict(train_digits.model_inputs(kind, x_test),
                                                 verbose=0))
    return out


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_release_files_are_shipped(name):
    directory = model_zoo.resolve(name)
    assert directory == os.path.join(model_zoo.registry.RELEASES_DIR, name)
    for f in ("config.json", "model.safetensors", "README.md"):
        assert os.path.isfile(os.path.join(directory, f)), f
    assert os.path.getsize(os.path.join(directory, "model.safetensors")) < 300_000


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_release_accuracy_and_backends_agree(name, backend, test_split, numpy_probabilities):
    kind, minimum = RELEASES[name]
    x_test, y_test = test_split
    model = kbridge.hub.load(f"zoo:{name}", backend=backend)
    assert [t.name for t in model.inputs] == [train_digits.INPUT_NAMES[kind]]
    probs = np.asarray(kbridge.ops.convert_to_numpy(
        model.predict(train_digits.model_inputs(kind, x_test), verbose=0)))
    assert probs.shape == (len(x_test), 10)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    reference = numpy_probabilities[name]
    np.testing.assert_array_equal(probs.argmax(-1), reference.argmax(-1))
    np.testing.assert_allclose(probs, reference, atol=1e-5, rtol=0)
    accuracy = float(np.mean(probs.argmax(-1) == y_test))
    assert accuracy >= minimum, (name, backend, accuracy)


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_release_evaluate_matches_card(name, test_split):
    """``evaluate`` on the recipe's test split gives the accuracy written in the card."""
    kind, minimum = RELEASES[name]
    x_test, y_test = test_split
    backend = "jax" if "jax" in BACKENDS else BACKENDS[-1]
    model = kbridge.hub.load(f"zoo:{name}", backend=backend)
    with kbridge.backend.use(backend):
        model.compile(loss=kbridge.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
        accuracy = model.evaluate(train_digits.model_inputs(kind, x_test), y_test, verbose=0,
                                  return_dict=True)["accuracy"]
    assert accuracy >= minimum
    card = open(os.path.join(model_zoo.resolve(name), "README.md"), encoding="utf-8").read()
    claimed = float(re.search(r"- type: test_accuracy\n\s+value: ([0-9.]+)", card).group(1))
    assert abs(accuracy - claimed) < 1e-3, (accuracy, claimed)


def test_zoo_list_contains_the_releases():
    entries = {e["name"]: e for e in model_zoo.list()}
    for name in RELEASES:
        assert name in entries
        assert entries[name]["source"] == "shipped"
        assert "digits" in entries[name]["description"]


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_model_card(name):
    kind, minimum = RELEASES[name]
    text = open(os.path.join(model_zoo.resolve(name), "README.md"), encoding="utf-8").read()
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    assert "library_name: kbridge" in front
    assert "license: apache-2.0" in front
    for tag in ("- image-classification", "- digits"):
        assert tag in front
    match = re.search(r"- type: test_accuracy\n\s+value: ([0-9.]+)", front)
    assert match and float(match.group(1)) >= minimum
    assert "| test_accuracy |" in body
    # how it was trained: recipe, epochs, optimizer, split, seed
    assert "model_zoo/recipes/train_digits.py" in body
    assert f"--model {kind}" in body
    assert f"{train_digits.EPOCHS[kind]} epochs" in body
    assert "Adam" in body
    assert "1437 training and 360 test" in body
    assert f"set_random_seed({train_digits.TRAIN_SEED})" in body


def test_cli_hub_list_shows_the_releases(capsys):
    from kbridge import cli

    assert cli.main(["hub", "list"]) == 0
    out = capsys.readouterr().out
    for name in RELEASES:
        assert f"zoo:{name}" in out


def test_recipe_builds_the_release_architecture():
    """The recipe's models are the shipped ones (same layer types and parameter counts)."""
    for name, (kind, _) in RELEASES.items():
        with kbridge.backend.use("numpy"):
            fresh = train_digits.build_model(kind)
        shipped = kbridge.hub.load(f"zoo:{name}", backend="numpy")
        assert [type(l).__name__ for l in fresh.layers] == \
            [type(l).__name__ for l in shipped.layers]
        assert fresh.count_params() == shipped.count_params()
