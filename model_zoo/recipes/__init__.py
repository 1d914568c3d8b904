"""Reproducible training recipes for the releases shipped in ``model_zoo/releases/``.

Each recipe is a runnable module that rebuilds one or more shipped releases from scratch:

    python -m model_zoo.recipes.train_digits --model cnn --backend jax --out model_zoo/releases/digits-cnn
    python -m model_zoo.recipes.train_digits --model mlp --backend jax --out model_zoo/releases/digits-mlp

A release's model card names the recipe, its arguments, the data split and the seed it was
trained with.
"""
