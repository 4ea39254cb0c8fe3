"""The offline ``digits`` dataset: scikit-learn's 8x8 digits, prepared as TFDS.

scikit-learn's bundled copy of the UCI optical hand-written digits (1797
images, 17 grey levels) is written once as a real TFDS dataset, so that
:func:`tfp_flows.data.load` works on it without network access.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfp_flows.data.catalog import _quiet_tfds, _resolve_data_dir

__all__ = ["digits_builder"]

_DIGITS_VERSION = "1.0.0"
_DIGITS_NUM_TRAIN = 1500  # of 1797; the remaining 297 form the test split.


def _is_prepared_dir(variant_dir: str) -> bool:
  # TFDS writes a dataset into a temporary directory and renames it when
  # complete, so these two files only appear together with the data.
  return tf.io.gfile.exists(
    os.path.join(variant_dir, "dataset_info.json")
  ) and tf.io.gfile.exists(os.path.join(variant_dir, "features.json"))


def digits_builder(data_dir=None) -> tfds.core.DatasetBuilder:
  """Returns the prepared TFDS builder of the offline ``digits`` dataset.

  The data are scikit-learn's copy of the UCI optical hand-written digits:
  1797 images of shape (8, 8, 1), uint8 grey levels 0..16, labels 0..9.
  A fixed permutation (``numpy.random.default_rng(0)``) assigns 1500 images
  to split ``"train"`` and 297 to ``"test"``.

  The dataset is written once to ``<data_dir>/digits/1.0.0`` and reused by
  later calls (scikit-learn is then not even imported).

  Args:
    data_dir: TFDS data directory; ``None`` means ``$TFDS_DATA_DIR`` or
      ``~/tensorflow_datasets``.

  Returns:
    A ``tfds.core.DatasetBuilder`` whose ``as_dataset`` yields
    ``{"image": uint8 [8, 8, 1], "label": int64 []}``.
  """
  data_dir = _resolve_data_dir(data_dir)
  variant_dir = os.path.join(data_dir, "digits", _DIGITS_VERSION)
  if _is_prepared_dir(variant_dir):
    return tfds.builder_from_directory(variant_dir)

  from sklearn.datasets import load_digits

  bunch = load_digits()
  images = bunch.images.astype(np.uint8)[..., None]
  labels = bunch.target.astype(np.int64)
  order = np.random.default_rng(0).permutation(len(labels))
  index = {
    "train": order[:_DIGITS_NUM_TRAIN],
    "test": order[_DIGITS_NUM_TRAIN:],
  }
  split_datasets = {
    split: tf.data.Dataset.from_tensor_slices(
      {"image": images[idx], "label": labels[idx]}
    )
    for split, idx in index.items()
  }
  with _quiet_tfds(silence_streams=True):
    # AdhocBuilder is the non-deprecated base of TfDataBuilder (which only
    # adds a deprecation warning); the arguments are the same.
    builder = tfds.dataset_builders.AdhocBuilder(
      name="digits",
      version=_DIGITS_VERSION,
      split_datasets=split_datasets,
      features=tfds.features.FeaturesDict(
        {
          "image": tfds.features.Image(shape=(8, 8, 1), dtype=tf.uint8),
          "label": tfds.features.ClassLabel(num_classes=10),
        }
      ),
      data_dir=data_dir,
      description=(
        "scikit-learn's 8x8 hand-written digits (UCI optical "
        "recognition of hand-written digits), 17 grey levels (0..16). "
        "Deterministic split: 1500 train / 297 test."
      ),
      homepage=(
        "https://archive.ics.uci.edu/dataset/80/"
        "optical+recognition+of+handwritten+digits"
      ),
    )
    try:
      # try_download_gcs=False: the default probes Google Cloud Storage
      # for a pre-built copy, which hangs without network.
      builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False)
      )
    except Exception:
      # Another process may have finished first: its rename wins and
      # ours fails, but the data on disk are then complete and identical.
      if not _is_prepared_dir(variant_dir):
        raise
      return tfds.builder_from_directory(variant_dir)
  return builder
