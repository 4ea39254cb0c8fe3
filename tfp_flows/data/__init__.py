"""Datasets for density estimation with normalizing flows.

Two kinds of data are provided:

* Image datasets as ``tf.data.Dataset`` pipelines (:func:`load`), with pixels
  dequantized to ``[0, 1)``. ``"digits"`` is scikit-learn's bundled 8x8
  digits (1797 images, 17 grey levels), stored as a real TFDS dataset so it
  works without network access. Every other name is looked up in the TFDS
  catalog and must already be prepared locally unless ``download=True``.

* Synthetic 2-D densities as NumPy arrays (:func:`toy`), following the usual
  FFJORD benchmark definitions.

Modules: ``catalog`` (:class:`ImageSpec`, :func:`spec` and the TFDS catalog),
``digits`` (the offline digits builder), ``pipeline`` (:func:`load`),
``prepare`` (:func:`prepare`: a TFDS dataset from local copies of its files)
and ``toys`` (:func:`toy`). Their public names are re-exported here.
"""

from tfp_flows.data.catalog import (KNOWN_DATASETS, ImageSpec, image_shape,
                                    levels, num_levels, spec)
from tfp_flows.data.digits import digits_builder
from tfp_flows.data.pipeline import load
from tfp_flows.data.prepare import prepare
from tfp_flows.data.toys import TOY_DATASETS, toy

__all__ = [
  "KNOWN_DATASETS",
  "TOY_DATASETS",
  "ImageSpec",
  "digits_builder",
  "image_shape",
  "levels",
  "load",
  "num_levels",
  "prepare",
  "spec",
  "toy",
]
