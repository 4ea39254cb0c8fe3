"""Inpainting by MAP with a trained flow (NICE paper, figure 6).

The bottom half of test digits is hidden and filled by projected gradient
ascent on log p(x) over the hidden pixels only. Rows: masked, inpainted,
original. Needs a flow trained by `make demo` (or `tfp-flows train`).

  python examples/inpainting.py --flow saved_models/glow-digits/flow \
      --out saved_models/glow-digits/inpainting.png
"""

import argparse

import numpy as np

import tfp_flows


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--flow", default="saved_models/glow-digits/flow")
  parser.add_argument("--out", default="inpainting.png")
  parser.add_argument("--count", type=int, default=8)
  parser.add_argument("--steps", type=int, default=300)
  args = parser.parse_args()

  dist, config = tfp_flows.load_flow(args.flow)
  x = next(iter(tfp_flows.data.load(config["dataset"], "test", args.count,
                                    dequantize=False))).numpy()
  observed = np.ones(x.shape[1:], np.float32)
  observed[x.shape[1] // 2:] = 0.  # hide the bottom half
  filled = tfp_flows.inpaint(dist, x, observed, steps=args.steps).numpy()
  masked = x * observed + 0.5 * (1. - observed)
  tfp_flows.images.save_image_grid(np.concatenate([masked, filled, x]),
                                   args.out, num_cols=args.count, zoom=8)
  print(f"rows masked / inpainted / original: {args.out}")


if __name__ == "__main__":
  main()
