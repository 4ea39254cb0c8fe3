"""Image datasets by name: their specs, the TFDS catalog and data directory.

Names in ``KNOWN_DATASETS`` are described by a built-in table of
:class:`ImageSpec`; every other name is looked up in the TFDS catalog
(metadata only). The TFDS data directory is resolved per call, and TFDS's
chatter is hidden while builders are made.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import math
import os

import numpy as np
import tensorflow_datasets as tfds

__all__ = [
  "KNOWN_DATASETS",
  "ImageSpec",
  "image_shape",
  "levels",
  "num_levels",
  "spec",
]

KNOWN_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")


@dataclasses.dataclass(frozen=True)
class ImageSpec:
  """Static description of an image dataset.

  Attributes:
    name: Dataset name as accepted by :func:`tfp_flows.data.load`.
    shape: Image shape ``(H, W, C)``.
    num_levels: Number of discrete pixel values ``K``; pixels are integers in
      ``{0, ..., K-1}``.
    num_classes: Number of label classes, or ``None`` if unlabelled.
  """

  name: str
  shape: tuple[int, int, int]
  num_levels: int
  num_classes: int | None

  @property
  def num_dims(self) -> int:
    """Number of dimensions ``D = H * W * C`` of one image."""
    return math.prod(self.shape)


_SPECS = {
  "digits": ImageSpec("digits", (8, 8, 1), 17, 10),
  "mnist": ImageSpec("mnist", (28, 28, 1), 256, 10),
  "fashion_mnist": ImageSpec("fashion_mnist", (28, 28, 1), 256, 10),
  "cifar10": ImageSpec("cifar10", (32, 32, 3), 256, 10),
}


def _unknown_dataset_error(name) -> ValueError:
  return ValueError(
    f"Unknown dataset {name!r}. Known names: {', '.join(KNOWN_DATASETS)}, "
    "or any TFDS image dataset (see tfds.list_builders()). 'digits' works "
    "offline."
  )


@contextlib.contextmanager
def _quiet_tfds(silence_streams: bool = False):
  """Hides TFDS chatter (absl warnings; optionally its prints and bars).

  TFDS warns about missing ``dataset_info.json`` every time an unprepared
  builder is constructed, which is the normal case here. Its download/prepare
  banner and tqdm bars go straight to stdout/stderr, so they can only be hidden
  by redirecting the streams; that is only done for the sub-second digits build.
  """
  absl_logger = logging.getLogger("absl")
  old_level = absl_logger.level
  absl_logger.setLevel(logging.ERROR)
  try:
    if silence_streams:
      sink = io.StringIO()
      with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield
    else:
      yield
  finally:
    absl_logger.setLevel(old_level)


def _resolve_data_dir(data_dir) -> str:
  # Resolved per call (not at import like tfds' constant) so that changing
  # TFDS_DATA_DIR after import is honoured.
  if data_dir is None:
    data_dir = os.environ.get("TFDS_DATA_DIR") or os.path.join(
      "~", "tensorflow_datasets"
    )
  return os.path.expanduser(os.fspath(data_dir))


def _catalog_builder(name: str, data_dir: str) -> tfds.core.DatasetBuilder:
  base_name = name.split(":")[0].split("/")[0]
  if base_name not in tfds.list_builders(with_community_datasets=False):
    raise _unknown_dataset_error(name)
  with _quiet_tfds():
    return tfds.builder(name, data_dir=data_dir)


def _spec_from_builder(name: str, builder: tfds.core.DatasetBuilder) -> ImageSpec:
  features = builder.info.features
  image = features["image"] if "image" in features else None
  if not isinstance(image, tfds.features.Image) or image.np_dtype != np.uint8:
    raise ValueError(
      f"Dataset {name!r} has no uint8 'image' feature; only image "
      f"datasets are supported (features: {list(features)})."
    )
  if any(d is None for d in image.shape):
    raise ValueError(
      f"Dataset {name!r} has images of variable shape {image.shape}; a "
      "fixed (H, W, C) shape is required."
    )
  label = features["label"] if "label" in features else None
  num_classes = (
    label.num_classes if isinstance(label, tfds.features.ClassLabel) else None
  )
  return ImageSpec(name, tuple(image.shape), 256, num_classes)


def spec(name: str) -> ImageSpec:
  """Returns the :class:`ImageSpec` of an image dataset.

  Names in ``KNOWN_DATASETS`` are answered from a built-in table. Other
  names are looked up in the TFDS catalog (metadata only, no data access):
  shape from ``info.features["image"].shape``, ``num_levels = 256`` (uint8).

  Raises:
    ValueError: unknown name, or a catalog dataset without a fixed-shape
      uint8 ``"image"`` feature.
  """
  if not isinstance(name, str):
    raise _unknown_dataset_error(name)
  if name in _SPECS:
    return _SPECS[name]
  return _spec_from_builder(name, _catalog_builder(name, _resolve_data_dir(None)))


def num_levels(name: str) -> int:
  """Number of discrete pixel values ``K`` of dataset ``name``."""
  return spec(name).num_levels


def image_shape(name: str, image_size: int | None = None) -> tuple[int, int, int]:
  """Image shape ``(H, W, C)`` that :func:`tfp_flows.data.load` yields."""
  shape = spec(name).shape
  if image_size is None:
    return shape
  return (image_size, image_size, shape[2])


def _levels(image_spec: ImageSpec, n_bits) -> int:
  """K after keeping the `n_bits` most significant bits (None: all)."""
  if n_bits is None:
    return image_spec.num_levels
  source_bits = math.log2(image_spec.num_levels)
  if isinstance(n_bits, bool) or not isinstance(n_bits, (int, np.integer)) or (
    not source_bits.is_integer() or not 1 <= n_bits <= source_bits):
    raise ValueError(
      f"n_bits must be an integer in [1, log2(num_levels)] for a dataset with "
      f"a power-of-two number of levels; got n_bits={n_bits!r} for "
      f"{image_spec.name!r} with {image_spec.num_levels} levels."
    )
  return 2**int(n_bits)


def levels(name: str, n_bits: int | None = None) -> int:
  """K, the number of pixel levels :func:`tfp_flows.data.load` yields."""
  return _levels(spec(name), n_bits)
