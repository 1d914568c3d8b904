"""Train the model zoo's digits classifiers (``zoo:digits-cnn``, ``zoo:digits-mlp``).

Data: scikit-learn's ``load_digits`` (1,797 8x8 grey-scale images of the digits 0-9, pixel
values 0..16), scaled to [0, 1]. The split is fixed: a permutation drawn from
``numpy.random.default_rng(SPLIT_SEED)`` puts the first ``N_TRAIN`` (1,437) images in the
training set and the remaining 360 in the test set (:func:`load_split`).

Models (Functional, kbridge layers, softmax probabilities out):

* ``cnn``: Input ``"image"`` (8, 8, 1) -> Conv2D(16, 3, same, relu) -> MaxPooling2D(2) ->
  Conv2D(32, 3, same, relu) -> Flatten -> Dense(10, softmax).
* ``mlp``: Input ``"pixels"`` (64,) -> Dense(128, relu) -> Dense(64, relu) ->
  Dense(10, softmax).

Training: ``kbridge.utils.set_random_seed(TRAIN_SEED)``, Adam(3e-3), sparse categorical
cross-entropy, batch size 32, ``EPOCHS[model]`` epochs, no validation split; then the test
accuracy is measured with ``evaluate`` and the model is saved as a kbridge release
(``kbridge.hub.save``) whose model card records how it was trained.

Usage:
    python -m model_zoo.recipes.train_digits --model cnn --backend jax --out model_zoo/releases/digits-cnn
    python -m model_zoo.recipes.train_digits --model mlp --backend jax --out model_zoo/releases/digits-mlp
"""

import argparse
import sys

import numpy as np

RECIPE = "model_zoo/recipes/train_digits.py"
SPLIT_SEED = 0
TRAIN_SEED = 1
N_TRAIN = 1437  # the remaining 360 of the 1,797 images are the test set
BATCH_SIZE = 32
LEARNING_RATE = 3e-3
EPOCHS = {"cnn": 20, "mlp": 40}
INPUT_NAMES = {"cnn": "image", "mlp": "pixels"}
RELEASE_NAMES = {"cnn": "digits-cnn", "mlp": "digits-mlp"}


def load_split(seed=SPLIT_SEED, n_train=N_TRAIN):
    """``(x_train, y_train, x_test, y_test)``: images (N, 8, 8, 1) float32 in [0, 1], int32 labels.

    The split depends only on ``seed`` (a numpy ``default_rng`` permutation), not on the
    scikit-learn version. Needs scikit-learn (``pip install scikit-learn``).
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]
    labels = digits.target.astype("int32")
    order = np.random.default_rng(seed).permutation(len(images))
    images, labels = images[order], labels[order]
    return images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]


def model_inputs(kind, images):
    """The input array a ``kind`` model takes: images as they are (cnn) or flattened (mlp)."""
    return images if kind == "cnn" else images.reshape(len(images), 64)


def build_model(kind):
    """The untrained Functional ``cnn`` or ``mlp`` (on the active backend)."""
    import kbridge
    from kbridge import layers

    if kind == "cnn":
        inputs = kbridge.Input((8, 8, 1), name="image")
        x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
        x = layers.MaxPooling2D(2, name="pool1")(x)
        x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
        x = layers.Flatten(name="flatten")(x)
        outputs = layers.Dense(10, activation="softmax", name="probabilities")(x)
        return kbridge.Model(inputs, outputs, name="digits_cnn")
    if kind == "mlp":
        inputs = kbridge.Input((64,), name="pixels")
        x = layers.Dense(128, activation="relu", name="dense1")(inputs)
        x = layers.Dense(64, activation="relu", name="dense2")(x)
        outputs = layers.Dense(10, activation="softmax", name="probabilities")(x)
        return kbridge.Model(inputs, outputs, name="digits_mlp")
    raise ValueError(f"--model must be 'cnn' or 'mlp'. Received: {kind!r}")


def card_for(kind, backend, epochs, accuracy):
    """The model-card fields passed to ``kbridge.hub.save``."""
    what = ("A small convolutional network" if kind == "cnn"
            else "A small multi-layer perceptron")
    shape = ("an `image` input of shape (8, 8, 1)" if kind == "cnn"
             else "a `pixels` input of shape (64,) (the 8x8 image flattened row by row)")
    description = (
        f"{what} for scikit-learn's 8x8 hand-written digits (0-9), "
        f"{accuracy:.1%} test accuracy.\n\n"
        f"It takes {shape} with pixel values scaled to [0, 1] (the dataset's 0..16 divided by "
        "16) and returns the 10 class probabilities (softmax).\n\n"
        "## Training\n\n"
        f"Trained with `python -m model_zoo.recipes.train_digits --model {kind} --backend "
        f"{backend} --out model_zoo/releases/{RELEASE_NAMES[kind]}` (recipe `{RECIPE}`): "
        "`sklearn.datasets.load_digits`, split with a `numpy.random.default_rng"
        f"({SPLIT_SEED})` permutation into {N_TRAIN} training and 360 test images; "
        f"`kbridge.utils.set_random_seed({TRAIN_SEED})`; {epochs} epochs of `fit` with "
        f"Adam (learning rate {LEARNING_RATE}), sparse categorical cross-entropy, batch size "
        f"{BATCH_SIZE}, on the {backend} backend. Test accuracy on the 360 held-out images: "
        f"{accuracy:.4f}.")
    return {
        "description": description,
        "license": "apache-2.0",
        "tags": ["image-classification", "digits"],
        "datasets": ["sklearn-digits"],
        "metrics": {"test_accuracy": round(float(accuracy), 4)},
    }


def train(kind, backend="jax", out=None, epochs=None, verbose=0):
    """Train the ``kind`` model on ``backend``; save a release at ``out`` if given.

    Returns ``(model, test_accuracy)``.
    """
    import kbridge

    epochs = EPOCHS[kind] if epochs is None else epochs
    x_train, y_train, x_test, y_test = load_split()
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(TRAIN_SEED)
        model = build_model(kind)
        model.compile(optimizer=kbridge.optimizers.Adam(LEARNING_RATE),
                      loss=kbridge.losses.SparseCategoricalCrossentropy(),
                      metrics=["accuracy"])
        model.fit(model_inputs(kind, x_train), y_train, batch_size=BATCH_SIZE, epochs=epochs,
                  verbose=verbose)
        accuracy = float(model.evaluate(model_inputs(kind, x_test), y_test, verbose=0,
                                        return_dict=True)["accuracy"])
        if out:
            kbridge.hub.save(model, out, card=card_for(kind, backend, epochs, accuracy))
    return model, accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m model_zoo.recipes.train_digits",
        description="Train the digits CNN or MLP and save it as a kbridge release.")
    parser.add_argument("--model", choices=["cnn", "mlp"], required=True)
    parser.add_argument("--backend", default="jax", choices=["jax", "torch", "tensorflow"])
    parser.add_argument("--out", default=None, help="release directory to write")
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: %s" % ", ".join(f"{k} {v}" for k, v in EPOCHS.items()))
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    _, accuracy = train(args.model, backend=args.backend, out=args.out, epochs=args.epochs,
                        verbose=args.verbose)
    print(f"{args.model}: test accuracy {accuracy:.4f}" + (f", saved to {args.out}"
                                                            if args.out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
