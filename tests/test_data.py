"""Tests for tfp_flows.data's image datasets: catalog, digits and pipeline
(offline: only the bundled digits set is loaded)."""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from tfp_flows import data
from tfp_flows.data import pipeline

K = 17  # digits grey levels


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  """A TFDS data dir in which digits is prepared once per session."""
  path = tmp_path_factory.mktemp("tfds")
  data.digits_builder(path)
  return str(path)


def _images(ds):
  return np.concatenate([x.numpy() for x in ds])


def test_digits_is_prepared_once_and_reused(data_dir):
  variant_dir = os.path.join(data_dir, "digits", "1.0.0")
  assert os.path.exists(os.path.join(variant_dir, "dataset_info.json"))
  builder = data.digits_builder(data_dir)
  assert builder.info.splits["train"].num_examples == 1500
  assert builder.info.splits["test"].num_examples == 297


def test_digits_batches_shape_dtype_range(data_dir):
  ds = data.load("digits", "train", batch_size=32, data_dir=data_dir, seed=0)
  batches = [x.numpy() for x in ds]
  assert all(b.dtype == np.float32 for b in batches)
  assert all(b.shape[1:] == (8, 8, 1) for b in batches)
  assert [b.shape[0] for b in batches] == [32] * 46 + [1500 - 32 * 46]
  x = np.concatenate(batches)
  assert x.min() >= 0.0 and x.max() < 1.0


@pytest.mark.parametrize("split, size", [("train", 1500), ("test", 297)])
def test_split_sizes(data_dir, split, size):
  assert len(_images(data.load("digits", split, 100, data_dir=data_dir))) == size


def test_drop_remainder_and_repeat(data_dir):
  ds = data.load(
    "digits", "test", 64, data_dir=data_dir, repeat=True, drop_remainder=True
  )
  assert ds.element_spec.shape.as_list() == [64, 8, 8, 1]
  assert len(list(ds.take(10))) == 10  # more than one epoch (297 // 64 = 4)


@pytest.mark.parametrize("repeat", [False, True])
def test_a_partial_read_does_not_truncate_later_passes(data_dir, repeat):
  # fit peeks at one batch (ActNorm's initialisation) before iterating.
  ds = data.load("digits", "test", 64, data_dir=data_dir, seed=0,
                 repeat=repeat, shuffle=False)
  next(iter(ds))
  seen = []
  for batch in ds.take(10) if repeat else ds:
    seen.append(batch.numpy())
  # Two full passes of the 297 test digits (5 batches each) when repeated.
  assert sum(len(b) for b in seen) == (2 if repeat else 1) * 297


def test_labels(data_dir):
  ds = data.load("digits", "test", 50, data_dir=data_dir, with_labels=True)
  xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
  y = np.concatenate(ys)
  assert y.dtype == np.int32 and y.shape == (297,)
  assert set(np.unique(y)) <= set(range(10)) and len(np.unique(y)) == 10
  assert np.concatenate(xs).shape == (297, 8, 8, 1)


def test_same_seed_reproduces_order_and_noise(data_dir):
  def two_epochs(seed):
    ds = data.load(
      "digits", "train", 128, data_dir=data_dir, seed=seed, with_labels=True
    )
    return [(x.numpy(), y.numpy()) for _ in range(2) for x, y in ds]

  a, b = two_epochs(7), two_epochs(7)
  for (xa, ya), (xb, yb) in zip(a, b):
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
  c = two_epochs(8)
  assert not np.array_equal(a[0][0], c[0][0])


def test_dequantization_noise_stays_in_bin(data_dir):
  centres = _images(
    data.load("digits", "test", 100, data_dir=data_dir, dequantize=False)
  )
  k = np.rint(centres * K - 0.5)
  np.testing.assert_allclose(centres, (k + 0.5) / K, rtol=1e-6)
  assert k.min() == 0 and k.max() == K - 1

  ds = data.load("digits", "test", 100, data_dir=data_dir, seed=3)
  assert ds.element_spec.dtype.name == "float32"
  epoch1, epoch2 = _images(ds), _images(ds)
  other_seed = _images(data.load("digits", "test", 100, data_dir=data_dir, seed=4))
  lo = k.astype(np.float32) / np.float32(K)
  hi = (k + 1).astype(np.float32) / np.float32(K)
  for x in (epoch1, epoch2, other_seed):
    assert np.all(x >= lo) and np.all(x < hi)
  assert not np.allclose(epoch1, epoch2)
  assert not np.allclose(epoch1, other_seed)
  # The noise is U[0, 1) in pixel units: mean 1/2, variance 1/12.
  u = epoch1 * K - k
  assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005


def test_unshuffled_eval_split_is_deterministic(data_dir):
  a = _images(data.load("digits", "test", 64, data_dir=data_dir, dequantize=False))
  b = _images(data.load("digits", "test", 64, data_dir=data_dir, dequantize=False))
  np.testing.assert_array_equal(a, b)


def test_spec_and_helpers():
  assert data.spec("digits") == data.ImageSpec("digits", (8, 8, 1), 17, 10)
  assert data.num_levels("mnist") == 256
  assert data.image_shape("fashion_mnist") == (28, 28, 1)
  assert data.image_shape("cifar10") == (32, 32, 3)
  assert data.spec("digits").num_dims == 64
  assert set(data.KNOWN_DATASETS) == {"digits", "mnist", "fashion_mnist", "cifar10"}


def test_unknown_name_lists_known_datasets(tmp_path):
  with pytest.raises(ValueError, match="digits"):
    data.load("no_such_dataset_xyz", data_dir=str(tmp_path))
  with pytest.raises(ValueError, match="digits"):
    data.spec("no_such_dataset_xyz")


def test_catalog_dataset_offline_fails_fast(tmp_path):
  start = time.monotonic()
  with pytest.raises(RuntimeError) as info:
    data.load("mnist", data_dir=str(tmp_path))
  assert time.monotonic() - start < 20.0
  message = str(info.value)
  assert "digits" in message and "not prepared" in message
  assert "download" in message


def test_invalid_split(data_dir):
  with pytest.raises(ValueError, match="split"):
    data.load("digits", "validation", data_dir=data_dir)
  with pytest.raises(ValueError, match="split"):
    data.load("digits", 3, data_dir=data_dir)


@pytest.mark.parametrize("bad", [0, -4, 2.5, "64", True, None])
def test_bad_batch_size(data_dir, bad):
  pattern = r"batch_size.*" + repr(bad).replace(".", r"\.")
  with pytest.raises(ValueError, match=pattern):
    data.load("digits", batch_size=bad, data_dir=data_dir)


def test_default_data_dir_follows_env(data_dir, monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", data_dir)
  assert len(_images(data.load("digits", "test", 297, data_dir=None))) == 297


def test_n_bits_reduces_levels(data_dir):
  # digits has 17 levels: not a power of two, so n_bits is refused there.
  with pytest.raises(ValueError, match="n_bits must be an integer"):
    data.load("digits", "test", 32, data_dir=data_dir, n_bits=3)
  assert data.levels("mnist", n_bits=5) == 32
  assert data.levels("digits") == K


def test_flip_mirrors_some_images_and_keeps_pixels(data_dir):
  plain = _images(data.load("digits", "test", 297, data_dir=data_dir,
                            dequantize=False))
  flipped = _images(data.load("digits", "test", 297, data_dir=data_dir,
                              dequantize=False, flip=True, seed=3))
  mirrored = np.all(flipped == plain[:, :, ::-1], axis=(1, 2, 3))
  same = np.all(flipped == plain, axis=(1, 2, 3))
  assert np.all(mirrored | same)
  assert 0.2 < mirrored.mean() < 0.8


def test_image_size_crops_and_resizes(data_dir):
  x = _images(data.load("digits", "test", 64, data_dir=data_dir, image_size=4))
  assert x.shape[1:] == (4, 4, 1) and x.min() >= 0 and x.max() < 1


def test_preprocess_keeps_most_significant_bits_and_resizes():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  image = tf.constant(np.arange(256, dtype=np.uint8).reshape(16, 16, 1))
  reduced = pipeline._preprocess(image, 256, 5, None).numpy()  # pylint: disable=protected-access
  np.testing.assert_array_equal(reduced, image.numpy() // 8)
  assert reduced.max() == 31
  wide = tf.zeros([6, 10, 3], tf.uint8)
  assert pipeline._preprocess(wide, 256, None, 4).shape == [4, 4, 3]  # pylint: disable=protected-access


def test_repeated_stream_is_a_function_of_seed_pass_and_step(data_dir):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  # The test split: 297 images, 5 batches of 64 per pass (the last of 41).
  def stream(start_step=0, seed=11, count=12):
    ds = data.load("digits", "test", 64, data_dir=data_dir, seed=seed,
                   shuffle=True, flip=True, with_labels=True, repeat=True,
                   start_step=start_step)
    return [(x.numpy(), y.numpy()) for x, y in ds.take(count - start_step)]

  full = stream()
  assert [len(y) for _, y in full] == [64, 64, 64, 64, 41] * 2 + [64, 64]
  # Each pass holds every image once, in its own order, with its own noise.
  assert sorted(np.concatenate([y for _, y in full[:5]])) == sorted(
    np.concatenate([y for _, y in full[5:10]]))
  assert not np.array_equal(full[0][1], full[5][1])
  # Independent of TensorFlow's global seed, and of where the stream starts:
  # step 7 (pass 1, step 2) is the same batch whichever iterator reaches it.
  tf.random.set_seed(123)
  for start in (0, 3, 5, 7):
    for (x, y), (x2, y2) in zip(full[start:], stream(start)):
      np.testing.assert_array_equal(x, x2)
      np.testing.assert_array_equal(y, y2)
  assert not np.array_equal(stream(seed=12, count=1)[0][0], full[0][0])


def test_start_step_needs_repeat(data_dir):
  with pytest.raises(ValueError, match="repeat=True"):
    data.load("digits", "test", 64, data_dir=data_dir, start_step=3)
  with pytest.raises(ValueError, match="start_step"):
    data.load("digits", "test", 64, data_dir=data_dir, repeat=True,
              start_step=-1)
