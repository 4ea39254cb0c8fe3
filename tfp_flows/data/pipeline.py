"""`load`: image datasets as ``tf.data`` pipelines, dequantized and resumable.

Pixels are integers ``k`` in ``{0, ..., K-1}`` (``K = num_levels``) and are
mapped to continuous values in ``[0, 1)``, either by uniform dequantization
``x = (k + u) / K`` with ``u ~ U[0, 1)`` or, deterministically, by the bin
centre ``x = (k + 0.5) / K``. A density ``p(x)`` on ``[0, 1)^D`` defines
the discrete model ``P(k) = integral of p over the bin of k``, and by Jensen
``log P(k) >= E_u[log p(x)] - D log K``, so
``E_u[-log2 p(x)] / D + log2 K`` upper-bounds the bits per dimension.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfp_flows.data._checks import _check_positive_int
from tfp_flows.data.catalog import (_SPECS, _catalog_builder, _levels,
                                    _resolve_data_dir, _spec_from_builder,
                                    _unknown_dataset_error)
from tfp_flows.data.digits import digits_builder

__all__ = ["load"]

# The shuffle buffer is capped so that large catalog datasets are not held
# whole in memory.
_MAX_SHUFFLE_BUFFER = 10_000


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
      levels must be a power of two. :func:`tfp_flows.data.levels` gives the
      resulting K.
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

  # Decoded afresh in every pass. An in-memory `cache()` shared by the passes
  # of the flat_map below is unsafe: an iterator abandoned mid-pass (fit's
  # `next(iter(ds))` for ActNorm's initialisation, a user's peek) leaves a
  # partial cache that later passes then read as the whole split (seen:
  # the 297 test digits truncated to 128). TFDS caches small datasets of
  # its own accord ("autocache"), hence `try_autocache=False` too.
  ds = builder.as_dataset(split=split, shuffle_files=False,
                          read_config=tfds.ReadConfig(try_autocache=False))
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
