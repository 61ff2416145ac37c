"""Test configuration: Keras runs on the JAX backend; helpers shared by the test modules."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
