"""Samples of an exported flow at temperatures 0, 0.5, 0.7, 0.85 and 1.

One column per temperature, the same latents in each row, z = T * eps with
eps ~ N(0, I): the Glow paper's figure 8. Needs only the SavedModel (any
tfp-flows export) and TensorFlow.

  python examples/temperature_grid.py \
      --model saved_models/glow-digits/saved_model \
      --out saved_models/glow-digits/temperature_grid.png
"""

import argparse

import numpy as np
import tensorflow as tf

from tfp_flows import images

TEMPERATURES = (0., 0.5, 0.7, 0.85, 1.)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model",
                      default="saved_models/glow-digits/saved_model")
  parser.add_argument("--out", default="temperature_grid.png")
  parser.add_argument("--rows", type=int, default=8)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  model = tf.saved_model.load(args.model)
  latent_shape = model.signatures["decode"].structured_input_signature[1][
      "z"].shape[1:]
  eps = np.random.default_rng(args.seed).standard_normal(
      [args.rows] + latent_shape.as_list()).astype(np.float32)
  columns = [model.decode(tf.constant(t * eps))["x"].numpy()
             for t in TEMPERATURES]
  grid = np.stack(columns, axis=1).reshape((-1,) + columns[0].shape[1:])
  zoom = max(1, 64 // grid.shape[1])
  images.save_image_grid(grid, args.out, num_cols=len(TEMPERATURES),
                         zoom=zoom)
  print(f"temperatures {TEMPERATURES} (columns): {args.out}")


if __name__ == "__main__":
  main()
