"""Attribute manipulation in latent space (Glow paper, figure 6), on digits.

The attribute direction is the difference of the mean latents of two classes
of training digits; test digits of the first class are decoded moved along
it, one row each, from scale 0 (reconstruction) to 1. Needs a flow trained by
`make demo` (or `tfp-flows train`).

  python examples/attribute_manipulation.py --flow saved_models/glow-digits/flow \
      --out saved_models/glow-digits/manipulation.png
"""

import argparse


import tfp_flows

SCALES = (0., 0.25, 0.5, 0.75, 1.)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--flow", default="saved_models/glow-digits/flow")
  parser.add_argument("--out", default="manipulation.png")
  parser.add_argument("--from-class", type=int, default=1)
  parser.add_argument("--to-class", type=int, default=7)
  parser.add_argument("--count", type=int, default=6)
  args = parser.parse_args()

  dist, config = tfp_flows.load_flow(args.flow)

  def images_of(split, label):
    x, y = next(iter(tfp_flows.data.load(
        config["dataset"], split, 10_000, dequantize=False, with_labels=True)))
    return x.numpy()[y.numpy() == label]

  direction = tfp_flows.attribute_direction(
      dist, images_of("train", args.from_class),
      images_of("train", args.to_class))
  x = images_of("test", args.from_class)[:args.count]
  grid = tfp_flows.manipulate(dist, x, direction, SCALES).numpy()
  tfp_flows.images.save_image_grid(grid.reshape((-1,) + grid.shape[2:]),
                                   args.out, num_cols=len(SCALES), zoom=8)
  print(f"class {args.from_class} -> {args.to_class}: {args.out}")


if __name__ == "__main__":
  main()
