"""The numpy backend: the reference implementation every other backend is tested against."""

NAME = "numpy"
