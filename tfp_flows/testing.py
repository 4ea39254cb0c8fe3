"""A public check harness for bijectors: run it on ours, and on your own.

`check_bijector(make_bijector, event_shape)` builds a fresh bijector per dtype
through `make_bijector(dtype)` and runs these checks, raising
`BijectorCheckError` (naming the check, the dtype and the worst error) on the
first failure:

* `round_trip_forward`: inverse(forward(x)) == x.
* `round_trip_inverse`: forward(inverse(y)) == y. By default y = forward(x')
  for fresh x', which is always in forward's range; pass `sample_y` (points
  of the whole codomain) to also catch a forward that is not onto it.
* `log_det_inverse`: inverse_log_det_jacobian(y) == -forward_log_det_jacobian(x)
  at y = forward(x).
* `jacobian`: forward_log_det_jacobian(x) == log |det dy/dx|, the Jacobian from
  autodiff (`GradientTape.batch_jacobian` and `slogdet`), on events of at most
  `max_jacobian_dim` entries.
* `batch_shape`: a batch of shape [2, 3] gives the same results as the same
  six events in a batch of shape [6], and as each event alone.
* `tf_function` and `jit_compile`: forward, inverse and log-dets traced with
  `tf.function` (and with `jit_compile=True`) equal the eager results.
* `trainable_variables`: the bijector exposes its variables (when
  `expect_trainable`).
* `saved_model`: a `tf.Module` holding the bijector and serving forward,
  inverse and the log-det with a dynamic batch dimension survives
  `tf.saved_model.save` / `load` with identical outputs.

A check whose computation raises (an op that XLA cannot compile, a
function that cannot be traced, a SavedModel that cannot be written or
loaded) fails as that check, with the exception's type and first line.

Every comparison is between fresh tensors (`tf.identity`) so that TFP's
bijector cache cannot answer an inverse from the forward it just ran.

Freshly built flows are often the identity (zero-initialised last layers).
So that the checks see a non-trivial map, the harness first calls `forward`
once (which builds lazily created variables and runs data-dependent
initialisation) and then adds `perturb_variables` times standard normal noise
to every trainable variable.

Example:

```python
import tensorflow as tf
import tensorflow_probability as tfp
from tfp_flows import testing

def make(dtype):
  return tfp.bijectors.Scale(tf.Variable(2., dtype=dtype))

report = testing.check_bijector(make, event_shape=[4], expect_trainable=True)
print(report)  # {'float32': {'round_trip_forward': 0.0, ...}, 'float64': ...}
```
"""

import tempfile

import numpy as np
import tensorflow as tf

from tfp_flows import context as context_lib

__all__ = [
    "BijectorCheckError", "check_bijector", "DEFAULT_TOLERANCES", "perturb",
    "DEEP_FLOW_TOLERANCES"
]

# Largest admissible relative error, by dtype, for the exact checks and for the
# autodiff Jacobian (whose slogdet loses a few more digits).
DEFAULT_TOLERANCES = {
    "float32": {"exact": 2e-4, "jacobian": 2e-3},
    "float64": {"exact": 1e-9, "jacobian": 1e-7},
}

# For a whole flow's bijector (tens of layers with perturbed weights): float32
# rounding compounds through the layers; float64 keeps the default tolerances.
DEEP_FLOW_TOLERANCES = {"float32": {"exact": 2e-3, "jacobian": 5e-3}}

ALL_CHECKS = ("round_trip_forward", "round_trip_inverse", "log_det_inverse",
              "jacobian", "batch_shape", "tf_function", "jit_compile",
              "trainable_variables", "saved_model")


class BijectorCheckError(AssertionError):
  """A harness check failed; the message names the check and the worst error."""


def _error(actual, expected):
  """Worst error, relative to the size of `expected` when that exceeds 1."""
  actual = np.asarray(actual, np.float64)
  expected = np.asarray(expected, np.float64)
  actual, expected = np.broadcast_arrays(actual, expected)
  if not np.all(np.isfinite(actual) == np.isfinite(expected)):
    return np.inf
  finite = np.isfinite(expected)
  if not finite.any():
    return 0.
  scale = max(1., float(np.max(np.abs(expected[finite]))))
  return float(np.max(np.abs(actual[finite] - expected[finite]))) / scale


class _Checker:
  """Runs the checks for one dtype and records their worst errors."""

  def __init__(self, bijector, dtype, tolerances, x_event, y_event, kwargs):
    self.bijector = bijector
    self.kwargs = kwargs
    self.dtype = dtype
    self.tolerances = tolerances
    self.x_event = x_event
    self.y_event = y_event
    self.report = {}

  def fldj(self, x):
    # Reduced over the whole event given to the harness, which may have more
    # dims than the bijector's minimum (an elementwise bijector, say).
    return self.bijector.forward_log_det_jacobian(
        x, event_ndims=len(self.x_event), **self.kwargs)

  def ildj(self, y):
    return self.bijector.inverse_log_det_jacobian(
        y, event_ndims=len(self.y_event), **self.kwargs)

  def forward(self, x):
    return self.bijector.forward(x, **self.kwargs)

  def inverse(self, y):
    return self.bijector.inverse(y, **self.kwargs)

  def outputs(self, x, y):
    """forward(x), inverse(y) and both log-dets."""
    return self.forward(x), self.inverse(y), self.fldj(x), self.ildj(y)

  def record(self, check, actual, expected, kind="exact"):
    err = _error(actual, expected)
    self.report[check] = max(err, self.report.get(check, 0.))
    tol = self.tolerances[kind]
    if not err <= tol:
      raise BijectorCheckError(
          f"check '{check}' failed for {self.bijector.name} "
          f"({self.dtype.name}): worst error {err:.3g} > tolerance {tol:.1g}.")


class _Raised:
  """Turns an exception inside a check into that check's failure."""

  def __init__(self, c, check):
    self.c = c
    self.check = check

  def __enter__(self):
    return self

  def __exit__(self, kind, error, tb):
    if kind is None or issubclass(kind, BijectorCheckError):
      return False
    if not issubclass(kind, Exception):
      return False
    first = (str(error).strip().splitlines() or [""])[0][:300]
    raise BijectorCheckError(
        f"check '{self.check}' failed for {self.c.bijector.name} "
        f"({self.c.dtype.name}): raised {kind.__name__}: {first}") from error


def _fresh(t):
  return tf.identity(t)


def perturb(module, scale, seed=0):
  """Adds N(0, scale^2) noise to every trainable variable of `module`.

  A new flow starts at or near the identity (zero-initialised output layers),
  where many mistakes cannot show; perturbed weights make every layer act.
  Each variable's constraint is applied to the result, as Keras applies it
  after each update: noise on MADE's masked kernels (MAF, IAF) would
  otherwise break the autoregressive property that makes them invertible.

  Args:
    module: a bijector, distribution or any `tf.Module`.
    scale: standard deviation of the noise.
    seed: NumPy seed of the noise.

  Returns:
    `module`.
  """
  rng = np.random.default_rng(seed)
  for v in module.trainable_variables:
    noise = rng.standard_normal(v.shape.as_list()) * scale
    value = v + tf.constant(noise, v.dtype)
    constraint = getattr(v, "constraint", None)
    v.assign(constraint(value) if constraint is not None else value)
  return module


def _check_round_trips(c, x, y_ref, checks):
  if "round_trip_forward" in checks:
    with _Raised(c, "round_trip_forward"):
      y = c.forward(_fresh(x))
      c.record("round_trip_forward", c.inverse(_fresh(y)), x)
  if "round_trip_inverse" in checks:
    with _Raised(c, "round_trip_inverse"):
      x2 = c.inverse(_fresh(y_ref))
      c.record("round_trip_inverse", c.forward(_fresh(x2)), y_ref)


def _check_log_dets(c, x):
  with _Raised(c, "log_det_inverse"):
    y = c.forward(_fresh(x))
    c.record("log_det_inverse", c.ildj(_fresh(y)), -c.fldj(_fresh(x)))


def _check_jacobian(c, x, event_shape, max_dim):
  b = c.bijector
  dim = int(np.prod(event_shape))
  if dim > max_dim:
    return
  flat = tf.reshape(x, [-1, dim])

  def jacobian(use_pfor):
    with tf.GradientTape(persistent=not use_pfor) as tape:
      tape.watch(flat)
      y = c.forward(tf.reshape(flat, [-1] + list(event_shape)))
      y_flat = tf.reshape(y, [tf.shape(flat)[0], -1])
    return tape.batch_jacobian(y_flat, flat, experimental_use_pfor=use_pfor)

  try:
    jac = jacobian(use_pfor=True)
  except ValueError:
    # Some ops cannot be vectorised (the gradient of TFP's ODE solver with
    # a context among its constants): one gradient per output instead.
    jac = jacobian(use_pfor=False)
  if jac.shape[-1] != jac.shape[-2]:
    raise BijectorCheckError(
        f"check 'jacobian' failed for {b.name}: forward maps {dim} entries to "
        f"{jac.shape[-2]}, so it is not a bijection of the event.")
  _, logabsdet = tf.linalg.slogdet(tf.cast(jac, tf.float64))
  fldj = c.fldj(_fresh(tf.reshape(flat, [-1] + list(event_shape))))
  c.record("jacobian", fldj, logabsdet, kind="jacobian")


def _compare_outputs(c, check, got, want):
  for g, w in zip(got, want):
    c.record(check, g, w)


def _check_batch_shape(c, x, y, x_event, y_event):
  want = c.outputs(_fresh(x), _fresh(y))
  xf = tf.reshape(x, [-1] + x_event)
  yf = tf.reshape(y, [-1] + y_event)
  got = c.outputs(xf, yf)
  batch = list(x.shape[:x.shape.rank - len(x_event)])
  n = xf.shape[0]
  _compare_outputs(
      c, "batch_shape",
      [tf.reshape(got[0], batch + y_event), tf.reshape(got[1], batch + x_event)]
      + [tf.reshape(tf.broadcast_to(t, [n]), batch) for t in got[2:]],
      want)
  # A single event with no batch dimension at all.
  single = c.outputs(xf[0], yf[0])
  first = [t[0] if t.shape.rank else t for t in got]
  _compare_outputs(c, "batch_shape", single, first)


def _check_traced(c, x, y, jit):
  want = c.outputs(_fresh(x), _fresh(y))
  traced = tf.function(lambda x, y: c.outputs(x, y), jit_compile=jit)
  check = "jit_compile" if jit else "tf_function"
  with _Raised(c, check):
    got = traced(_fresh(x), _fresh(y))
  _compare_outputs(c, check, got, want)


def _check_saved_model(c, x, y, x_event, y_event):
  b = c.bijector
  module = tf.Module()
  module.bijector = b
  module.run = tf.function(
      lambda x, y: c.outputs(x, y),
      input_signature=[tf.TensorSpec([None] + x_event, c.dtype),
                       tf.TensorSpec([None] + y_event, c.dtype)])
  xf, yf = tf.reshape(x, [-1] + x_event), tf.reshape(y, [-1] + y_event)
  want = module.run(xf, yf)
  with tempfile.TemporaryDirectory() as path, _Raised(c, "saved_model"):
    tf.saved_model.save(module, path)
    loaded = tf.saved_model.load(path)
    got = loaded.run(xf, yf)
  _compare_outputs(c, "saved_model", got, want)


def check_bijector(make_bijector,
                   event_shape,
                   *,
                   dtypes=(tf.float32, tf.float64),
                   batch_shape=(2, 3),
                   sample_x=None,
                   sample_y=None,
                   checks=ALL_CHECKS,
                   expect_trainable=None,
                   perturb_variables=0.1,
                   max_jacobian_dim=256,
                   tolerances=None,
                   context=None,
                   seed=0):
  """Runs the harness checks on bijectors built by `make_bijector(dtype)`.

  Args:
    make_bijector: callable taking a `tf.DType` and returning a new bijector
      of that dtype (with `forward_min_event_ndims == len(event_shape)`).
    event_shape: shape of one event of x, e.g. `[4]` or `[4, 4, 2]`; the
      event shape of y comes from `forward_event_shape`.
    dtypes: float dtypes to check.
    batch_shape: batch shape of the test inputs (at least 2 events).
    sample_x: callable `(shape, dtype, rng) -> np.ndarray` of points in the
      bijector's domain; default standard normal.
    sample_y: the same for points of the codomain (shape: batch shape plus
      the event shape of y); default forward(x') for fresh x' from
      `sample_x`. Standard normal points, say, make `round_trip_inverse`
      catch a forward that is not onto all of R^n.
    checks: names of the checks to run (see the module docstring).
    expect_trainable: if True, fail unless the bijector has trainable
      variables; if False, fail if it has any; None skips the check.
    perturb_variables: std of the noise added to trainable variables after the
      first forward call, so that zero-initialised flows are not the identity.
    max_jacobian_dim: the Jacobian check is skipped for larger events.
    tolerances: overrides of `DEFAULT_TOLERANCES`, same nesting.
    context: for a conditional bijector, one context c [C] that every call
      gets (routed to its conditional layers by
      `tfp_flows.context.bijector_kwargs`); None for none.
    seed: seeds the inputs and the perturbation.

  Returns:
    dict: dtype name -> {check name: worst relative error}.

  Raises:
    BijectorCheckError: a check failed.
  """
  unknown = set(checks) - set(ALL_CHECKS)
  if unknown:
    raise ValueError(f"Unknown checks {sorted(unknown)}; known: {ALL_CHECKS}.")
  event_shape = list(event_shape)
  if sample_x is None:
    sample_x = lambda shape, dtype, rng: rng.standard_normal(shape)  # pylint: disable=unnecessary-lambda-assignment
  report = {}
  for dtype in dtypes:
    dtype = tf.as_dtype(dtype)
    tol = dict(DEFAULT_TOLERANCES[dtype.name])
    tol.update((tolerances or {}).get(dtype.name, {}))
    rng = np.random.default_rng(seed)
    shape = list(batch_shape) + event_shape
    x = tf.constant(np.asarray(sample_x(shape, dtype, rng)), dtype)
    x_other = tf.constant(np.asarray(sample_x(shape, dtype, rng)), dtype)
    bijector = make_bijector(dtype)
    kwargs = {}
    if context is not None:
      kwargs = context_lib.bijector_kwargs(
          bijector, tf.constant(np.asarray(context), dtype))
    bijector.forward(_fresh(x), **kwargs)  # Lazy variables, data init.
    if perturb_variables:
      perturb(bijector, perturb_variables, seed)
    y_event = bijector.forward_event_shape(event_shape).as_list()
    c = _Checker(bijector, dtype, tol, event_shape, y_event, kwargs)
    if sample_y is None:
      y = c.forward(_fresh(x_other))
    else:
      y = tf.constant(np.asarray(sample_y(list(batch_shape) + y_event, dtype,
                                          rng)), dtype)
    if "trainable_variables" in checks and expect_trainable is not None:
      has = bool(bijector.trainable_variables)
      if has != expect_trainable:
        raise BijectorCheckError(
            f"check 'trainable_variables' failed for {bijector.name}: expected "
            f"{'some' if expect_trainable else 'none'}, found "
            f"{len(bijector.trainable_variables)}.")
    _check_round_trips(c, x, y, checks)
    if "log_det_inverse" in checks:
      _check_log_dets(c, x)
    if "jacobian" in checks:
      with _Raised(c, "jacobian"):
        _check_jacobian(c, x, event_shape, max_jacobian_dim)
    if "batch_shape" in checks:
      with _Raised(c, "batch_shape"):
        _check_batch_shape(c, x, y, event_shape, y_event)
    if "tf_function" in checks:
      _check_traced(c, x, y, jit=False)
    if "jit_compile" in checks:
      _check_traced(c, x, y, jit=True)
    if "saved_model" in checks:
      _check_saved_model(c, x, y, event_shape, y_event)
    report[dtype.name] = c.report
  return report
