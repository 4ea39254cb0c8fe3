"""Latent interpolation between pairs of test digits with an exported flow.

Each row decodes (1 - a) z1 + a z2 for a from 0 to 1, z = encode(x) of two
test images (Glow's figure 5, RealNVP's figure 6). Needs only the SavedModel
and the digits data.

  python examples/interpolation.py \
      --model saved_models/glow-digits/saved_model \
      --out saved_models/glow-digits/interpolation.png
"""

import argparse

import numpy as np
import tensorflow as tf

from tfp_flows import data
from tfp_flows import images


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model",
                      default="saved_models/glow-digits/saved_model")
  parser.add_argument("--out", default="interpolation.png")
  parser.add_argument("--pairs", type=int, default=6)
  parser.add_argument("--steps", type=int, default=8)
  args = parser.parse_args()

  model = tf.saved_model.load(args.model)
  test = next(iter(data.load("digits", "test", batch_size=2 * args.pairs,
                             dequantize=False)))
  z = model.encode(test)["z"].numpy()
  z1, z2 = z[0::2], z[1::2]
  a = np.linspace(0., 1., args.steps, dtype=np.float32)[None, :, None]
  path = (1. - a) * z1[:, None] + a * z2[:, None]  # [pairs, steps, D]
  decoded = model.decode(tf.constant(path.reshape(-1, z.shape[-1])))["x"]
  images.save_image_grid(decoded.numpy(), args.out, num_cols=args.steps,
                         zoom=max(1, 64 // test.shape[1]))
  print(f"{args.pairs} interpolations of {args.steps} steps: {args.out}")


if __name__ == "__main__":
  main()
