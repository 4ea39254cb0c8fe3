"""Out-of-distribution detection: likelihood, and likelihood minus complexity.

A flow trained on Fashion-MNIST scores the test images of Fashion-MNIST (in
distribution) and of MNIST (out of distribution). Nalisnick et al. (2019)
found that flows, VAEs and PixelCNNs trained on Fashion-MNIST give MNIST the
*higher* likelihood: raw log p(x) ranks the foreign digits as more normal
than the model's own test set. Serrà et al. (2020) traced this to input
complexity (simple images, large flat backgrounds, are likely under any
model) and corrected for it with a lossless compressor.

Each image (pixel levels k in 0..K-1, scored at the bin centres
(k + 0.5) / K) gets two anomaly scores, in bits (higher: more anomalous):

* its code length under the flow, -log2 P(x). The flow's density p on
  [0, 1)^D, integrated over a bin of side 1 / K, is P(x) ~ p(x) K^-D, so

    -log2 P(x) = -log p(x) / ln 2 + D log2 K;

* Serrà et al.'s complexity-corrected score

    S(x) = -log2 P(x) - L(x),

  where L(x) is the length in bits of x compressed losslessly, here PNG at
  maximum compression (zlib level 9): 8 * len(encode_png(k)). A compressor is
  a universal model P_0(x) = 2^-L(x), so S(x) = log2 P_0(x) / P(x) is a
  likelihood ratio: how much better the generic model explains x than the
  flow. L(x) includes the PNG file's fixed headers (the same bytes for
  every image of a given shape), which shift S by a constant and leave every
  ranking unchanged.

The AUROC per score is the probability that a random in-distribution test
image is ranked more normal (lower score) than a random OOD image (1:
perfect detection, 0.5: chance, below 0.5: the OOD set looks *more* normal),
with ties counted half. Bits are reported per dimension (divided by D).

References:
  E. Nalisnick, A. Matsukawa, Y. W. Teh, D. Gorur, B. Lakshminarayanan. Do
  deep generative models know what they don't know? ICLR 2019.
  arXiv:1810.09136.
  J. Serrà, D. Álvarez, V. Gómez, O. Slizovskaia, J. F. Núñez, J. Luque.
  Input complexity and out-of-distribution detection with likelihood-based
  generative models. ICLR 2020. arXiv:1909.11480.

  tfp-flows train --flow glow --dataset fashion_mnist \
      --out saved_models/glow-fashion_mnist
  python examples/ood_scores.py \
      --model saved_models/glow-fashion_mnist/saved_model
"""

import argparse
import math

import numpy as np
import tensorflow as tf

# Run as a script, examples/ is on sys.path (as it is for the tests' loader).
from anomaly_scores import auroc
from tfp_flows import data

# The keys of main's AUROCs and the rows of its table.
ROWS = {"likelihood": "log p(x) (Nalisnick et al. 2019)",
        "complexity": "log p(x) + complexity (Serrà et al. 2020, PNG)"}


def code_length_bits(log_prob, num_dims, num_levels):
  """-log2 P(x) in bits, from log p(x) (nats) of a density on [0, 1)^D."""
  return -np.asarray(log_prob, np.float64) / math.log(2.) + (
      num_dims * math.log2(num_levels))


def png_bits(levels):
  """L(x): bits of each uint8 image [N, H, W, C] as a PNG at zlib level 9."""
  return np.array([8 * len(tf.io.encode_png(image, compression=9).numpy())
                   for image in levels], np.float64)


def complexity_score(code_bits, compressed_bits):
  """Serrà et al.'s S(x) = -log2 P(x) - L(x): higher is more anomalous."""
  return np.asarray(code_bits) - np.asarray(compressed_bits)


def score_images(model, name, num_levels, args):
  """(code length -log2 P(x), PNG length L(x)) in bits, per test image."""
  split = "test" if args.num_images is None else f"test[:{args.num_images}]"
  code, compressed = [], []
  for x in data.load(name, split, batch_size=args.batch_size,
                     dequantize=False, shuffle=False,
                     data_dir=args.data_dir):
    # Bin centres back to integer levels, then to the model's inputs again,
    # so the flow and the compressor see exactly the same discrete image.
    levels = np.round(x.numpy() * num_levels - 0.5)
    centres = ((levels + 0.5) / num_levels).astype(np.float32)
    log_prob = model.log_prob(tf.constant(centres))["log_prob"].numpy()
    code.append(code_length_bits(log_prob, levels[0].size, num_levels))
    compressed.append(png_bits(levels.astype(np.uint8)))
  code, compressed = np.concatenate(code), np.concatenate(compressed)
  bad = np.count_nonzero(~np.isfinite(code))
  if bad:
    raise RuntimeError(
        f"{bad} of {len(code)} {name} test images have a non-finite "
        f"log p(x) under {args.model}; their code length is undefined.")
  return code, compressed


def _positive_int(text):
  value = int(text)
  if value <= 0:
    raise argparse.ArgumentTypeError(f"must be positive, got {text}")
  return value


def main(argv=None):
  """Prints the table; returns {"likelihood": AUROC, "complexity": AUROC}."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model",
                      default="saved_models/glow-fashion_mnist/saved_model",
                      help="SavedModel folder (`tfp-flows train --out DIR` "
                      "writes DIR/saved_model)")
  parser.add_argument("--dataset", default="fashion_mnist",
                      help="the model's training data (in distribution)")
  parser.add_argument("--ood", default="mnist",
                      help="out-of-distribution dataset")
  parser.add_argument("--data-dir", default=None,
                      help="TFDS data dir (default: $TFDS_DATA_DIR or "
                      "~/tensorflow_datasets)")
  parser.add_argument("--num-images", type=_positive_int, default=None,
                      help="the first N test images of each dataset "
                      "(default: the whole test split)")
  parser.add_argument("--batch-size", type=_positive_int, default=500)
  args = parser.parse_args(argv)

  num_levels = data.levels(args.dataset)
  if data.levels(args.ood) != num_levels:
    raise ValueError(
        f"{args.dataset} has {num_levels} pixel levels and {args.ood} "
        f"{data.levels(args.ood)}; code lengths are only comparable over "
        "the same discrete pixel values.")
  model = tf.saved_model.load(args.model)
  code, compressed = {}, {}
  for name in (args.dataset, args.ood):
    code[name], compressed[name] = score_images(model, name, num_levels,
                                                args)
  num_dims = math.prod(data.image_shape(args.dataset))

  def per_dim(bits):
    return np.median(bits) / num_dims

  scores = {"likelihood": code, "complexity": {
      name: complexity_score(code[name], compressed[name]) for name in code}}
  print(f"{len(code[args.dataset])} {args.dataset} and {len(code[args.ood])} "
        f"{args.ood} test images; median PNG bits/dim: {args.dataset} "
        f"{per_dim(compressed[args.dataset]):.3f}, {args.ood} "
        f"{per_dim(compressed[args.ood]):.3f}")
  print(f"| score | {args.dataset} (median bits/dim) | {args.ood} (median "
        "bits/dim) | AUROC |")
  print("| --- | ---: | ---: | ---: |")
  results = {}
  for key, bits in scores.items():
    # auroc ranks higher as more normal; these scores are the opposite.
    results[key] = auroc(-bits[args.dataset], -bits[args.ood])
    print(f"| {ROWS[key]} | {per_dim(bits[args.dataset]):.3f} | "
          f"{per_dim(bits[args.ood]):.3f} | {results[key]:.3f} |")
  return results


if __name__ == "__main__":
  main()
