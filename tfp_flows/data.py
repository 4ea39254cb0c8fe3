"""Datasets for density estimation with normalizing flows.

Two kinds of data are provided:

* Image datasets as ``tf.data.Dataset`` pipelines (:func:`load`). Pixels are
  integers ``k`` in ``{0, ..., K-1}`` (``K = num_levels``) and are mapped to
  continuous values in ``[0, 1)``, either by uniform dequantization
  ``x = (k + u) / K`` with ``u ~ U[0, 1)`` or, deterministically, by the bin
  centre ``x = (k + 0.5) / K``. A density ``p(x)`` on ``[0, 1)^D`` defines
  the discrete model ``P(k) = integral of p over the bin of k``, and by Jensen
  ``log P(k) >= E_u[log p(x)] - D log K``, so
  ``E_u[-log2 p(x)] / D + log2 K`` upper-bounds the bits per dimension.

  ``"digits"`` is scikit-learn's bundled 8x8 digits (1797 images, 17 grey
  levels), stored as a real TFDS dataset so it works without network access.
  Every other name is looked up in the TFDS catalog and must already be
  prepared locally unless ``download=True``.

* Synthetic 2-D densities as NumPy arrays (:func:`toy`), following the usual
  FFJORD benchmark definitions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import math
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

__all__ = [
  "KNOWN_DATASETS",
  "TOY_DATASETS",
  "ImageSpec",
  "digits_builder",
  "image_shape",
  "levels",
  "load",
  "num_levels",
  "spec",
  "toy",
]

KNOWN_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")
TOY_DATASETS = (
  "moons",
  "8gaussians",
  "checkerboard",
  "2spirals",
  "rings",
  "pinwheel",
  "circles",
)

_DIGITS_VERSION = "1.0.0"
_DIGITS_NUM_TRAIN = 1500  # of 1797; the remaining 297 form the test split.
# The shuffle buffer is capped so that large catalog datasets are not held
# whole in memory.
_MAX_SHUFFLE_BUFFER = 10_000


@dataclasses.dataclass(frozen=True)
class ImageSpec:
  """Static description of an image dataset.

  Attributes:
    name: Dataset name as accepted by :func:`load`.
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
  """Image shape ``(H, W, C)`` that :func:`load` yields for ``name``."""
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


def _preprocess(image, num_levels: int, n_bits, image_size):
  """uint8 [H, W, C] -> centre-cropped, resized, n_bits-reduced uint8 image."""
  if image_size is not None:
    side = tf.minimum(tf.shape(image)[0], tf.shape(image)[1])
    image = tf.image.resize_with_crop_or_pad(image, side, side)
    image = tf.image.resize(image, [image_size, image_size], method="area")
    image = tf.cast(tf.round(image), tf.uint8)
  if n_bits is not None:
    shift = int(math.log2(num_levels)) - n_bits
    image = tf.bitwise.right_shift(image, tf.constant(shift, image.dtype))
  return image


def levels(name: str, n_bits: int | None = None) -> int:
  """K, the number of pixel levels :func:`load` yields for these arguments."""
  return _levels(spec(name), n_bits)


def _check_positive_int(arg_name: str, value) -> None:
  is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
  if not is_int or value <= 0:
    raise ValueError(
      f"{arg_name} must be a positive integer, got {value!r} "
      f"({type(value).__name__})."
    )


def _not_prepared_error(name: str, data_dir: str) -> RuntimeError:
  return RuntimeError(
    f"Dataset {name!r} is not prepared locally under data_dir={data_dir!r}, "
    "and no network download was attempted (download=False; downloading "
    "needs internet access). Use name='digits' for a dataset that works "
    "offline, pass download=True on a machine with network access, or "
    "point data_dir/TFDS_DATA_DIR at a directory where it was prepared."
  )


def load(
  name: str = "digits",
  split: str = "train",
  batch_size: int = 64,
  *,
  shuffle: bool | None = None,
  dequantize: bool = True,
  seed: int | None = None,
  data_dir=None,
  with_labels: bool = False,
  repeat: bool = False,
  drop_remainder: bool = False,
  download: bool = False,
  n_bits: int | None = None,
  flip: bool = False,
  image_size: int | None = None,
  start_step: int = 0,
) -> tf.data.Dataset:
  """Loads an image dataset as batches of float32 images in ``[0, 1)``.

  Each element is ``x`` of shape ``[B, H, W, C]`` (float32), or ``(x, y)``
  with ``y`` int32 of shape ``[B]`` if ``with_labels``. With pixel value
  ``k`` and ``K = num_levels``:

  * ``dequantize=True``: ``x = (k + u) / K``, ``u ~ U[0, 1)`` elementwise,
    redrawn every epoch, so ``x`` lies in the bin ``[k/K, (k+1)/K)``;
  * ``dequantize=False``: ``x = (k + 0.5) / K`` (bin centres; deterministic,
    for evaluation and visualisation).

  Pipeline, per pass over the split: decode ->
  ``shuffle`` -> ``batch`` -> dequantize -> ``prefetch``. Each pass (epoch)
  is batched on its own, so it ends with a partial batch unless
  ``drop_remainder``. A pass has a key, from which its shuffle order and the
  noise (and flips) of each of its batches are drawn statelessly:

  * ``repeat=True``: pass ``p`` (0, 1, 2, ...) has the key ``(seed, p)``, so
    batch ``s`` of pass ``p`` is a pure function of ``(seed, p, s)``: two
    calls with the same ``seed`` yield the same stream, and ``start_step``
    starts it at any batch without reading the ones before (how
    ``tfp-flows train --checkpoint-dir`` resumes a run exactly);
  * ``repeat=False``: one pass, whose key is drawn anew from ``seed`` at every
    iteration: two calls with the same ``seed`` (and the same global seed,
    ``tf.random.set_seed``, which this draw mixes in) give the same sequence
    of epochs (order and noise), while successive epochs differ.

  Args:
    name: ``"digits"`` (offline, built from scikit-learn on first use) or a
    TFDS catalog image dataset such as ``"mnist"``, ``"fashion_mnist"``,
    ``"cifar10"``.
    split: TFDS split, e.g. ``"train"``, ``"test"``, ``"train[:90%]"``.
    batch_size: Positive batch size ``B``.
    shuffle: Shuffle examples; default ``True`` iff ``split == "train"``.
    dequantize: Uniform dequantization (see above) instead of bin centres.
    seed: Seed for shuffling and noise; ``None`` draws one from TensorFlow's
    global generator (reproducible after ``tf.random.set_seed``).
    data_dir: TFDS data directory; ``None`` means ``$TFDS_DATA_DIR`` or
    ``~/tensorflow_datasets``.
    with_labels: Also yield int32 class labels.
    repeat: Repeat indefinitely: passes 0, 1, 2, ... one after the other.
    drop_remainder: Drop the last incomplete batch of every pass (static
    batch dimension).
    download: For catalog datasets only: download and prepare the data if
    missing (needs network access). When ``False`` a missing dataset
    fails immediately instead of retrying the network for minutes.
    n_bits: Keep the ``n_bits`` most significant bits of each pixel, so
    ``K = 2**n_bits`` (Glow's 5-bit CelebA); the dataset's own number of
    levels must be a power of two. :func:`levels` gives the resulting K.
    flip: Random horizontal flips, redrawn every epoch (augmentation).
    image_size: Centre-crop to a square and resize to
    ``image_size x image_size`` (area averaging), e.g. 64 for CelebA.
    start_step: With ``repeat=True``: start at batch number ``start_step`` of
    the stream (counted from 0 across passes; pass ``p`` holds batches
    ``p * S`` to ``p * S + S - 1``, ``S`` batches per pass). The batches
    are exactly those the full stream yields from there on; only the pass
    it starts in is shuffled and skipped through.

  Returns:
    A ``tf.data.Dataset``.

  Raises:
    ValueError: invalid argument or unknown dataset name/split.
    RuntimeError: a catalog dataset is not prepared locally and
    ``download=False``.
  """
  if not isinstance(name, str):
    raise _unknown_dataset_error(name)
  if not isinstance(split, str):
    raise ValueError(
      f"split must be a str, got {split!r} ({type(split).__name__})."
    )
  _check_positive_int("batch_size", batch_size)
  if seed is not None and (
    isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
  ):
    raise ValueError(f"seed must be an int or None, got {seed!r}.")
  if isinstance(start_step, bool) or not isinstance(
    start_step, (int, np.integer)) or start_step < 0:
    raise ValueError(
      f"start_step must be an integer >= 0, got {start_step!r}.")
  if start_step and not repeat:
    raise ValueError("start_step needs repeat=True (a stream of passes).")
  data_dir = _resolve_data_dir(data_dir)

  if name == "digits":
    builder = digits_builder(data_dir)
    image_spec = _SPECS["digits"]
  else:
    builder = _catalog_builder(name, data_dir)
    image_spec = _spec_from_builder(name, builder)
    if not builder.is_prepared():
      if not download:
        raise _not_prepared_error(name, data_dir)
      builder.download_and_prepare()
  levels = _levels(image_spec, n_bits)
  if image_size is not None:
    _check_positive_int("image_size", image_size)
  if with_labels and image_spec.num_classes is None:
    raise ValueError(
      f"Dataset {name!r} has no class labels; use with_labels=False."
    )

  try:
    num_examples = builder.info.splits[split].num_examples
  except (KeyError, ValueError) as e:
    raise ValueError(
      f"Invalid split {split!r} for dataset {name!r}; available splits: "
      f"{sorted(builder.info.splits)}."
    ) from e
  if shuffle is None:
    shuffle = split == "train"

  steps_per_pass = (num_examples // batch_size if drop_remainder else
                    -(-num_examples // batch_size))
  if repeat and steps_per_pass == 0:
    raise ValueError(
      f"batch_size={batch_size} exceeds the {num_examples} examples of split "
      f"{split!r}: with drop_remainder=True and repeat=True no batch is "
      "ever complete."
    )
  if seed is None:
    # Honours tf.random.set_seed, as a seedless shuffle op would.
    seed = int(tf.random.uniform([], maxval=2**62, dtype=tf.int64))

  def pixels(image):
    return _preprocess(image, image_spec.num_levels, n_bits, image_size)

  ds = builder.as_dataset(split=split, shuffle_files=False)
  # Decoded afresh in every pass. An in-memory `cache()` shared by the passes
  # of the flat_map below is unsafe: an iterator abandoned mid-pass (fit's
  # `next(iter(ds))` for ActNorm's initialisation, a user's peek) leaves a
  # partial cache that later passes then read as the whole split (seen:
  # the 297 test digits truncated to 128).
  if with_labels:
    examples = ds.map(
        lambda ex: (pixels(ex["image"]), tf.cast(ex["label"], tf.int32)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  else:
    examples = ds.map(lambda ex: pixels(ex["image"]),
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  base_key = tf.constant([seed, 0x5EED], tf.int64)

  def fold_in(key, data):
    return tf.random.experimental.stateless_fold_in(
      key, tf.cast(data, tf.int64))

  def one_pass(pass_index):
    """(batch, key of its noise) of one pass; a function of its key only."""
    key = fold_in(base_key, pass_index)
    d = examples
    if shuffle:
      # The shuffle op mixes the graph-level seed into its own; fixing it
      # in this function's graph makes the order depend on `key` only, not
      # on whether (or how) tf.random.set_seed was called.
      tf.random.set_seed(1)
      shuffle_seed = tf.random.stateless_uniform(
        [], seed=fold_in(key, 2), minval=None, maxval=None, dtype=tf.int64)
      d = d.shuffle(
        min(num_examples, _MAX_SHUFFLE_BUFFER),
        seed=shuffle_seed,
        reshuffle_each_iteration=False,
      )
    d = d.batch(batch_size, drop_remainder=drop_remainder)
    return d.enumerate().map(lambda step, batch: (batch, fold_in(key, step)))

  if repeat:
    first_pass, skip = divmod(start_step, steps_per_pass)
    ds = tf.data.Dataset.counter(first_pass).flat_map(one_pass).skip(skip)
    ds = ds.apply(
      tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
  else:
    # A new pass key every iteration (every epoch), reproducible from seed.
    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    ds = keys.take(1).flat_map(one_pass)
    ds = ds.apply(tf.data.experimental.assert_cardinality(steps_per_pass))

  levels = float(levels)

  def to_unit_interval(images, key):
    k = tf.cast(images, tf.float32)
    if flip:
      k = tf.image.stateless_random_flip_left_right(k, seed=fold_in(key, 1))
    if not dequantize:
      return (k + 0.5) / levels
    u = tf.random.stateless_uniform(tf.shape(k), seed=fold_in(key, 0))
    # In float32, k + u rounds up to k + 1 when u is within ~k * 2**-24 of
    # 1, which would put x on the next bin's edge (x == 1 for the top
    # level); clamp to the largest float below the bin's upper edge.
    upper = tf.math.nextafter((k + 1.0) / levels, tf.zeros_like(k))
    return tf.minimum((k + u) / levels, upper)

  def transform(batch, key):
    if with_labels:
      images, labels = batch
      return to_unit_interval(images, key), labels
    return to_unit_interval(batch, key)

  # Stateless noise keyed by (pass, step): deterministic under a parallel
  # map, and the same for a batch whichever iterator reaches it.
  ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------
# Synthetic 2-D densities (FFJORD benchmark definitions).


def _toy_moons(n, rng):
  from sklearn.datasets import make_moons

  x = make_moons(n, noise=0.1, random_state=int(rng.integers(2**31)))[0]
  return x * 2.0 + np.array([-1.0, -0.2])


def _toy_circles(n, rng):
  from sklearn.datasets import make_circles

  random_state = int(rng.integers(2**31))
  x = make_circles(n, factor=0.5, noise=0.08, random_state=random_state)[0]
  return x * 3.0


def _toy_8gaussians(n, rng):
  s = 1.0 / np.sqrt(2.0)
  centers = 4.0 * np.array(
    [(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)]
  )
  x = centers[rng.integers(8, size=n)] + 0.5 * rng.standard_normal((n, 2))
  return x / 1.414


def _toy_checkerboard(n, rng):
  x1 = rng.uniform(-2.0, 2.0, size=n)
  # The offset floor(x1) mod 2 shifts every other column by one, turning two
  # stacked unit bands into a 4x4 checkerboard on [-4, 4]^2 after scaling.
  x2 = rng.uniform(size=n) - 2.0 * rng.integers(2, size=n) + np.floor(x1) % 2
  return 2.0 * np.stack([x1, x2], axis=1)


def _toy_2spirals(n, rng):
  # sqrt makes the density along the arc roughly uniform in the plane.
  t = np.sqrt(rng.uniform(size=n)) * 3.0 * np.pi
  x = np.stack([-np.cos(t) * t, np.sin(t) * t], axis=1)
  x = x + 0.5 * rng.uniform(size=(n, 2))
  x[n // 2 :] *= -1.0  # second spiral: point reflection of the first
  return x / 3.0 + 0.1 * rng.standard_normal((n, 2))


def _toy_rings(n, rng):
  radii = np.array([0.25, 0.5, 0.75, 1.0])
  counts = np.full(4, n // 4)
  counts[0] += n - counts.sum()
  circles = []
  for radius, count in zip(radii, counts):
    angle = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    circles.append(radius * np.stack([np.cos(angle), np.sin(angle)], axis=1))
  x = 3.0 * np.concatenate(circles)
  return rng.permutation(x) + 0.08 * rng.standard_normal((n, 2))


def _toy_pinwheel(n, rng):
  num_arms, radial_std, tangential_std, rate = 5, 0.3, 0.1, 0.25
  arm = np.arange(n) % num_arms
  r = rng.standard_normal((n, 2)) * np.array([radial_std, tangential_std])
  r[:, 0] += 1.0
  # The rotation grows with radius (exp of the radial coordinate), which
  # bends each Gaussian blob into a curved arm.
  angle = 2.0 * np.pi * arm / num_arms + rate * np.exp(r[:, 0])
  c, s = np.cos(angle), np.sin(angle)
  x = np.stack([r[:, 0] * c - r[:, 1] * s, r[:, 0] * s + r[:, 1] * c], axis=1)
  return 2.0 * rng.permutation(x)


_TOY_SAMPLERS = {
  "moons": _toy_moons,
  "8gaussians": _toy_8gaussians,
  "checkerboard": _toy_checkerboard,
  "2spirals": _toy_2spirals,
  "rings": _toy_rings,
  "pinwheel": _toy_pinwheel,
  "circles": _toy_circles,
}


def toy(name: str, n: int, seed: int = 0) -> np.ndarray:
  """Draws ``n`` samples from a synthetic 2-D density.

  Definitions follow the FFJORD toy benchmarks (data roughly in
  ``[-4, 4]^2``):

  * ``moons``: ``make_moons(n, noise=0.1) * 2 + [-1, -0.2]``;
  * ``8gaussians``: ``(c + 0.5 * eps) / 1.414`` with ``c`` one of 8 points
    on the circle of radius 4, ``eps ~ N(0, I)``;
  * ``checkerboard``: uniform on 8 alternating 2x2 squares of ``[-4, 4]^2``;
  * ``2spirals``: two interleaved spirals, ``t = 3*pi*sqrt(U)``,
    ``(-t cos t, t sin t) / 3`` plus noise, and its reflection;
  * ``rings``: 4 concentric circles of radii ``3 * {0.25, 0.5, 0.75, 1}``
    plus ``N(0, 0.08^2)`` noise;
  * ``pinwheel``: 5 curved arms (radial std 0.3, tangential std 0.1);
  * ``circles``: ``make_circles(n, factor=0.5, noise=0.08) * 3``.

  Args:
    name: One of ``TOY_DATASETS``.
    n: Number of samples (positive int).
    seed: Seed of the NumPy generator; same seed, same samples.

  Returns:
    float32 array of shape ``[n, 2]``.
  """
  if not isinstance(name, str) or name not in _TOY_SAMPLERS:
    raise ValueError(
      f"Unknown toy dataset {name!r}; known: {', '.join(TOY_DATASETS)}."
    )
  _check_positive_int("n", n)
  x = _TOY_SAMPLERS[name](int(n), np.random.default_rng(seed))
  return np.asarray(x, dtype=np.float32)
