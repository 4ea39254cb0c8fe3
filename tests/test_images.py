"""Image grids."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import images


def test_grid_layout_and_png(tmp_path):
  x = np.ones([5, 2, 3, 1], np.float32)
  grid = images.image_grid(x, num_cols=3, zoom=2, pad=1)
  assert grid.shape == (2 * (4 + 1) + 1, 3 * (6 + 1) + 1, 1)
  assert grid.dtype == np.uint8 and grid.max() == 255
  path = images.save_image_grid(x, str(tmp_path / "g.png"))
  decoded = tf.io.decode_png(tf.io.read_file(path))
  assert decoded.shape[-1] == 1


def test_bad_shape():
  with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
    images.image_grid(np.zeros([2, 3]))
