"""Unnormalised target densities for variational inference and MCMC benchmarks.

Each builder returns a `Target`: a log-density `log_prob(x)` mapping
x [..., *event_shape] to [...], its event shape, and log Z, the log of its
normalising constant when known (0 for the normalised ones, None otherwise):

* `banana(scale=2., curvature=0.5)`: x1 ~ N(0, scale^2),
  x2 | x1 ~ N(curvature * x1^2, 1). Normalised (a shear of a Gaussian has
  unit Jacobian).
* `funnel(dim=10)`: Neal's funnel, v ~ N(0, 3^2), x_i | v ~ N(0, e^v) for
  i = 1..dim-1, event [v, x_1, ...]. Normalised. Its neck (v ~ -6: scales
  e^-3) and mouth (v ~ 6: scales e^3) defeat a single HMC step size.
* `logistic_regression()`: the posterior of a Bayesian logistic regression
  on scikit-learn's bundled breast_cancer data (569 cases, 30 features
  standardised, plus an intercept: 31 weights) with a N(0, 1) prior on each
  weight; log Z unknown.
* `energy(name)`: Rezende & Mohamed's (2015) 2-D energies "U1".."U4",
  p(z) ~ exp(-U(z)). U2-U4 do not depend on z1 except through periodic
  terms, so they are improper; like the paper's plots (on [-4, 4]^2) we
  confine z1 with a soft wall, U += 10 * relu(|z1| - 4)^2. log Z unknown.
"""

import collections
import math

import numpy as np
import tensorflow as tf

__all__ = ["ENERGIES", "Target", "banana", "energy", "funnel",
           "logistic_regression"]

ENERGIES = ("U1", "U2", "U3", "U4")

Target = collections.namedtuple("Target",
                                ["name", "log_prob", "event_shape", "log_z"])
Target.__doc__ = """A target density: name, log_prob, event_shape, log_z.

`log_prob(x)`: x [..., *event_shape] -> [...] (unnormalised log-density);
`log_z`: log of the normalising constant when known, else None.
"""

_LOG_2PI = math.log(2. * math.pi)


def _normal_log_prob(x, loc, scale):
  return -0.5 * tf.square((x - loc) / scale) - tf.math.log(scale) - 0.5 * _LOG_2PI


def banana(scale=2., curvature=0.5):
  """The banana x1 ~ N(0, scale^2), x2 | x1 ~ N(curvature x1^2, 1); log Z = 0."""

  def log_prob(x):
    x1, x2 = x[..., 0], x[..., 1]
    return (_normal_log_prob(x1, 0., scale) +
            _normal_log_prob(x2, curvature * tf.square(x1), 1.))

  return Target("banana", log_prob, [2], 0.)


def funnel(dim=10):
  """Neal's funnel in `dim` dimensions: v ~ N(0, 9), x_i | v ~ N(0, e^v); log Z = 0."""
  if int(dim) != dim or dim < 2:
    raise ValueError(f"`dim` must be an integer >= 2; got {dim!r}.")

  def log_prob(x):
    v = x[..., 0]
    # log N(x_i; 0, e^{v/2}) written out: e^{-v} x_i^2 / 2 + v / 2 stays
    # finite where a scale exp(v / 2) would underflow.
    rest = x[..., 1:]
    conditional = tf.reduce_sum(
        -0.5 * tf.square(rest) * tf.exp(-v)[..., None], axis=-1)
    return (_normal_log_prob(v, 0., 3.) + conditional -
            (dim - 1) * 0.5 * (v + _LOG_2PI))

  return Target(f"funnel{dim}", log_prob, [int(dim)], 0.)


def logistic_regression():
  """Posterior of logistic regression on breast_cancer, N(0, 1) prior; 31-D.

  log p(w | data) + log Z = sum_n log sigmoid(s_n w . x_n) + sum_j log N(w_j; 0, 1),
  s_n = +-1 the label, x_n = [1, standardised features].
  """
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  features, labels = datasets.load_breast_cancer(return_X_y=True)
  features = (features - features.mean(0)) / features.std(0)
  features = np.concatenate([np.ones([len(features), 1]), features], axis=1)
  # The sign of each label folded into its features: s * (w . x) = w . (s x).
  signed = ((2. * labels - 1.)[:, None] * features).astype(np.float32)
  dim = signed.shape[1]

  def log_prob(w):
    w = tf.convert_to_tensor(w)
    logits = tf.einsum("...d,nd->...n", w, tf.constant(signed, w.dtype))
    return (tf.reduce_sum(tf.math.log_sigmoid(logits), axis=-1) +
            tf.reduce_sum(_normal_log_prob(w, 0., 1.), axis=-1))

  return Target("logistic_regression", log_prob, [dim], None)


def _wall(z1):
  return 10. * tf.square(tf.nn.relu(tf.abs(z1) - 4.))


def energy(name):
  """Rezende & Mohamed's energy `name` ("U1".."U4") as log p = -U; 2-D.

  With w1 = sin(pi z1 / 2), w2 = 3 exp(-((z1 - 1) / 0.6)^2 / 2),
  w3 = 3 sigmoid((z1 - 1) / 0.3):

    U1 = ((|z| - 2) / 0.4)^2 / 2
         - log(exp(-((z1 - 2) / 0.6)^2 / 2) + exp(-((z1 + 2) / 0.6)^2 / 2))
    U2 = ((z2 - w1) / 0.4)^2 / 2
    U3 = -log(exp(-((z2 - w1) / 0.35)^2 / 2) + exp(-((z2 - w1 + w2) / 0.35)^2 / 2))
    U4 = -log(exp(-((z2 - w1) / 0.4)^2 / 2) + exp(-((z2 - w1 + w3) / 0.35)^2 / 2))

  U2-U4 get the soft wall of the module docstring.
  """
  if name not in ENERGIES:
    raise ValueError(f"`name` must be one of {ENERGIES}; got {name!r}.")

  def log_prob(z):
    z1, z2 = z[..., 0], z[..., 1]
    w1 = tf.sin(0.5 * math.pi * z1)
    if name == "U1":
      radius = tf.norm(z, axis=-1)
      return (-0.5 * tf.square((radius - 2.) / 0.4) + tf.reduce_logsumexp(
          tf.stack([-0.5 * tf.square((z1 - 2.) / 0.6),
                    -0.5 * tf.square((z1 + 2.) / 0.6)], -1), axis=-1))
    if name == "U2":
      return -0.5 * tf.square((z2 - w1) / 0.4) - _wall(z1)
    if name == "U3":
      w2 = 3. * tf.exp(-0.5 * tf.square((z1 - 1.) / 0.6))
      terms = [-0.5 * tf.square((z2 - w1) / 0.35),
               -0.5 * tf.square((z2 - w1 + w2) / 0.35)]
    else:
      w3 = 3. * tf.sigmoid((z1 - 1.) / 0.3)
      terms = [-0.5 * tf.square((z2 - w1) / 0.4),
               -0.5 * tf.square((z2 - w1 + w3) / 0.35)]
    return tf.reduce_logsumexp(tf.stack(terms, -1), axis=-1) - _wall(z1)

  return Target(name, log_prob, [2], None)
