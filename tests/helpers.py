"""Helpers shared by test modules (not a test module itself)."""

import gzip
import json
import os
import struct
import subprocess
import sys

import numpy as np
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import nets
from tfp_flows import testing
from tfp_flows.flows import registry


def bijectors_of_type(dist, kind):
  """The bijectors of type `kind` in a flow, data side first."""
  found = []

  def visit(b):
    if isinstance(b, kind):
      found.append(b)
    for child in getattr(b, "bijectors", []):
      visit(child)
    for attr in ("bijector", "inner"):
      if hasattr(b, attr):
        visit(getattr(b, attr))

  visit(dist.bijector)
  return found


def made_calls(monkeypatch):
  """The list that fills with the layer name of every MADE call from now on."""
  calls = []
  call = nets.MADE.call

  def counted(self, x, conditional_input=None):
    calls.append(self.name)
    return call(self, x, conditional_input=conditional_input)

  monkeypatch.setattr(nets.MADE, "call", counted)
  return calls


def saturated_images(count, side, seed):
  """MNIST-like uint8 values as float32 [count, side, side, 1]: a few bright
  discs with soft edges on a background of exact zeros (most pixels), the
  saturated background that made Glow's loss spike on MNIST."""
  rng = np.random.default_rng(seed)
  rows, cols = np.mgrid[:side, :side]
  images = np.zeros([count, side, side, 1], np.float32)
  for image in images:
    for _ in range(3):
      centre = rng.uniform(side * 0.25, side * 0.75, 2)
      radius = rng.uniform(1., side / 6.)
      distance = np.hypot(rows - centre[0], cols - centre[1])
      image[..., 0] = np.maximum(
          image[..., 0], np.clip(255. * (radius + 0.5 - distance), 0., 255.))
  return np.floor(images)


def per_step_bits_per_dim(model, dataset, steps):
  """Fits `model` for `steps` steps; the bits/dim of each step's batch.

  tf_keras reports the running mean of an epoch's losses; each step's own
  loss is the difference of consecutive running sums.
  """
  sums = []

  class Record(tf_keras.callbacks.Callback):

    def on_train_batch_end(self, batch, logs=None):
      sums.append(logs["bits_per_dim"] * (batch + 1))

  model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0,
            callbacks=[Record()])
  return np.diff(np.concatenate([[0.], sums]))


# A tiny MNIST / Fashion-MNIST in the datasets' own file format, for TFDS's
# real builders (`tfp_flows.data.prepare`): split sizes and file names.
MNIST_FIXTURE_SIZES = {"train": 3, "test": 2}
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _write_idx(path, array):
  """uint8 array -> gzipped idx file (zeros, type 0x08, rank, big-endian
  dimensions, then the data), the format of MNIST's files."""
  header = bytes([0, 0, 8, array.ndim]) + struct.pack(
      f">{array.ndim}I", *array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.tobytes())


def mnist_sources(tmp_path, monkeypatch):
  """{dataset: (folder of its 4 files, {split: (images, labels)})}.

  The two datasets' files have the same names and different contents
  (MNIST's labels count up, Fashion-MNIST's down); TFDS is made to expect
  exactly these files and split sizes.
  """
  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.core.download import checksums
  from tensorflow_datasets.image_classification import mnist
  builders = {"mnist": mnist.MNIST, "fashion_mnist": mnist.FashionMNIST}
  monkeypatch.setattr(mnist, "_TRAIN_EXAMPLES", MNIST_FIXTURE_SIZES["train"])
  monkeypatch.setattr(mnist, "_TEST_EXAMPLES", MNIST_FIXTURE_SIZES["test"])
  # Read both before patching either: FashionMNIST inherits MNIST's.
  recorded = {name: dict(builder.url_infos)
              for name, builder in builders.items()}
  out = {}
  for seed, name in enumerate(builders):
    folder = tmp_path / name
    folder.mkdir()
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in MNIST_FIXTURE_SIZES.items():
      images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
      labels = np.arange(n, dtype=np.uint8)
      if name == "fashion_mnist":
        labels = 9 - labels
      images_file, labels_file = _MNIST_FILES[split]
      _write_idx(folder / images_file, images)
      _write_idx(folder / labels_file, labels)
      arrays[split] = images[..., None], labels
    monkeypatch.setattr(builders[name], "url_infos", {
        url: checksums.compute_url_info(folder / info.filename)
        for url, info in recorded[name].items()})
    out[name] = folder, arrays
  return out


# Every registered flow at a size that builds and runs in a second or two.
TINY = {
    "nice": dict(hidden_units=[4]),
    "realnvp": dict(num_scales=1, hidden_units=4),
    "glow": dict(num_scales=1, num_layers=1, hidden_units=4),
    "flowpp": dict(checkerboard_steps=1, channel_steps=0, final_steps=0,
                   hidden_units=4, num_heads=1, num_components=2),
    "maf": dict(num_layers=2, hidden_units=[8]),
    "iaf": dict(num_layers=2, hidden_units=[8]),
    "ffjord": dict(hidden_units=[8]),
    "coupling_flow": dict(num_layers=2, hidden_units=[8]),
    "nsf": dict(num_layers=2, num_bins=3, hidden_units=[8]),
    "naf": dict(num_layers=2, num_sigmoids=2, hidden_units=[8]),
    "bnaf": dict(num_layers=2, hidden_units=[2]),
    "residual_flow": dict(num_layers=2, hidden_units=[8]),
    # The exact log-det: the harness compares it with autodiff's.
    "multiscale_residual_flow": dict(num_layers=1, num_scales=1,
                                     hidden_units=4, log_det="exact"),
    "planar": dict(num_layers=2),
    "radial": dict(num_layers=2),
    "sylvester": dict(num_layers=2, num_reflections=1),
}


def assert_implicit_gradient(layer, y, rtol, atol, h=1e-6):
  """d sum(sin(inverse(y))) / d theta equals central differences (float64).

  For layers whose inverse is a root finder that is not differentiated:
  their gradient must be the implicit function's. `layer` has one trainable
  variable theta (its free parameters).
  """
  [theta] = layer.trainable_variables
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.sin(layer.inverse(y)))
  grad = tape.gradient(loss, theta).numpy()
  start = theta.numpy()
  numeric = []
  for i in range(start.size):
    values = []
    for sign in (1., -1.):
      theta.assign(start + sign * h * np.eye(start.size)[i])
      values.append(float(tf.reduce_sum(tf.sin(layer.inverse(y)))))
    numeric.append((values[0] - values[1]) / (2 * h))
  theta.assign(start)
  np.testing.assert_allclose(grad, numeric, rtol=rtol, atol=atol)


def assert_far_inputs_finite(layer):
  """A MADE layer over [3] vectors: both directions, the log-det and its
  gradients (inputs and weights) finite at inputs up to 1e8."""
  # Every entry reaches the MADE here (float32's largest would overflow its
  # ReLU layers, as any network's), so huge means 1e6 to 1e8.
  y = tf.constant([[1e6, -1e6, 0.5], [5., -5., 4.9], [1e4, 1e8, -1e8]])
  for fn in (layer.forward, layer.inverse):
    with tf.GradientTape() as tape:
      tape.watch(y)
      out = fn(tf.identity(y))
      loss = tf.reduce_sum(layer.inverse_log_det_jacobian(
          tf.identity(y), event_ndims=1)) + tf.reduce_sum(out * 0.)
    grads = tape.gradient(loss,
                          [y] + layer.conditioner.trainable_variables)
    assert np.all(np.isfinite(out)) and np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in grads)


def made(dim=3, hidden=(8,), dtype=tf.float32, scale=0., seed=0, **kwargs):
  """A built `nets.MADE` with seeded weights, perturbed by N(0, scale^2)."""
  # Seeded: the tests' tolerances hold for these weights, not for every draw.
  kwargs.setdefault("kernel_initializer",
                    tf_keras.initializers.GlorotUniform(seed=seed))
  net = nets.MADE(dim, hidden, dtype=dtype, **kwargs)
  net.build([None, dim])
  return testing.perturb(net, scale, seed) if scale else net


def check_conditional_stack(make):
  """The harness on a builder's conditional stack over [3] events (context
  [0.5, -1.], deep-flow tolerances): every check but XLA and SavedModel,
  which the registry's matrix runs on its conditional flows."""
  checks = [c for c in testing.ALL_CHECKS
            if c not in ("jit_compile", "saved_model")]
  testing.check_bijector(make, [3], expect_trainable=True, batch_shape=(2,),
                         tolerances=testing.DEEP_FLOW_TOLERANCES,
                         checks=checks, context=np.array([0.5, -1.]))


def bimodal_conditional_nll(name, **kwargs):
  """NLL (nats) of a one-layer flow `name` fitted to x1 | x0 with two modes.

  x0 ~ N(0, 1), x1 = +-2 + N(0, 0.3^2): entropies 1.42 + 0.91 nats. One
  affine layer (MAF) cannot beat the best single Gaussian in x1 (variance
  4.09: 1.42 + 2.12 nats); a monotone non-affine transformer can split it.
  150 Adam steps (1e-2) of batch 256 on 4096 points, seed 0.
  """
  rng = np.random.default_rng(0)
  x0 = rng.normal(size=4096)
  x1 = np.sign(rng.normal(size=4096)) * 2. + 0.3 * rng.normal(size=4096)
  data = np.stack([x0, x1], 1).astype(np.float32)
  tf_keras.utils.set_random_seed(0)
  dist = registry.BUILDERS[name]([2], num_layers=1, **kwargs)
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  model.fit(tf.data.Dataset.from_tensor_slices(data).batch(256).repeat(),
            steps_per_epoch=150, epochs=1, verbose=0)
  return -float(tf.reduce_mean(dist.log_prob(data)))


# The first lines of a script that runs a two-replica strategy on one CPU:
# logical devices must be configured before TensorFlow initialises, so such
# a test runs its script in a fresh process (`script_result`).
TWO_CPUS = r"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""


def script_result(script, *args, timeout=300, log_level="2"):
  """Runs `script` in a fresh Python; the JSON it printed after "RESULT"."""
  proc = subprocess.run([sys.executable, "-c", script, *args],
                        capture_output=True, text=True, timeout=timeout,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL=log_level))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.split("RESULT", 1)[1])
