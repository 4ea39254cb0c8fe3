"""Writing image grids (samples, reconstructions) as PNG files."""

import math
import os

import numpy as np
import tensorflow as tf

__all__ = ["image_grid", "save_image_grid", "zoom_for"]


def image_grid(images, num_cols=None, zoom=1, pad=1, pad_value=0.5):
  """Tiles images [N, H, W, C] with values in [0, 1] into one uint8 image.

  Args:
    images: array or tensor [N, H, W, C], C in {1, 3}; clipped to [0, 1].
    num_cols: images per row (default: ceil(sqrt(N))).
    zoom: integer upscaling by pixel repetition (8x8 digits need it).
    pad: pixels between tiles.
    pad_value: grey level of the padding (mid-grey keeps dark-background
      tiles such as digits apart).

  Returns:
    uint8 array [rows * (H*zoom + pad) + pad, cols * (W*zoom + pad) + pad, C].
  """
  images = np.clip(np.asarray(images, np.float32), 0., 1.)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError("`images` must have shape [N, H, W, C] with C in {1, 3}; "
                     f"got {images.shape}.")
  n, h, w, c = images.shape
  num_cols = num_cols or max(1, math.ceil(math.sqrt(n)))
  num_rows = max(1, math.ceil(n / num_cols))
  images = images.repeat(zoom, axis=1).repeat(zoom, axis=2)
  h, w = h * zoom, w * zoom
  grid = np.full([num_rows * (h + pad) + pad, num_cols * (w + pad) + pad, c],
                 pad_value, np.float32)
  for i in range(n):
    r, col = divmod(i, num_cols)
    top, left = pad + r * (h + pad), pad + col * (w + pad)
    grid[top:top + h, left:left + w] = images[i]
  return (grid * 255. + 0.5).astype(np.uint8)


def zoom_for(shape):
  """The pixel repetition that shows [H, ...] images at least 64 pixels tall."""
  return max(1, 64 // shape[0])


def save_image_grid(images, path, num_cols=None, zoom=1, pad=1, pad_value=0.5):
  """Writes `image_grid(images, ...)` to `path` as a PNG; returns `path`."""
  png = tf.io.encode_png(image_grid(images, num_cols, zoom, pad, pad_value))
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tf.io.write_file(path, png)
  return path
