"""The TensorFlow backend."""

NAME = "tensorflow"
