"""What every transformer shares: the contract with the layers that use it."""

import collections

import tensorflow as tf

from tfp_flows.tfp_internal import ps

__all__ = ["COUPLING", "AUTOREGRESSIVE", "Site", "Transformer", "check",
           "entry_major"]

# The two layouts of theta (see `Transformer`).
COUPLING = "coupling"
AUTOREGRESSIVE = "autoregressive"

Site = collections.namedtuple(
    "Site", ["layout", "zero_conditioning", "variable", "owner"])
Site.__doc__ = """What a layer tells its transformer about where it runs.

Fields:
  layout: `COUPLING` (theta's last axis holds P * d entries) or
    `AUTOREGRESSIVE` (theta is [..., D, P]).
  zero_conditioning: callable zeroing a tensor on a coupling mask's
    conditioning entries (the identity elsewhere); a transformer applies it
    to its raw parameters so that outputs discarded there stay finite.
  variable: callable (name, channels) -> the layer's own variable of that
    name, shape [channels], created (at ones) on first use.
  owner: the layer's name, for error messages.
"""


def entry_major(theta, channels, per_entry, owner, description):
  """Coupling output [..., channels * P] -> [..., channels, P] (entry-major).

  Raises:
    ValueError: a static last axis of another size, naming `owner`.
  """
  if (channels is not None and theta.shape[-1] is not None and
      theta.shape[-1] != channels * per_entry):
    raise ValueError(
        f"{owner}: the last axis of the `conditioner` output must be "
        f"{channels} * {per_entry} = {channels * per_entry} ({description} "
        f"for each of the {channels} channels of x_B); got {theta.shape[-1]} "
        f"in shape {theta.shape.as_list()}.")
  shape = ps.concat([ps.shape(theta)[:-1], [-1, per_entry]], 0)
  out = tf.reshape(theta, shape)
  out.set_shape(theta.shape[:-1].concatenate([channels, per_entry]))
  return out


class Transformer:
  """A monotone elementwise map g(x; theta) with its options: a layer's transform.

  A transformer is what a coupling (`bijectors.Coupling`) or autoregressive
  (`bijectors.Autoregressive`) layer applies to each transformed entry, its
  parameters theta coming from the layer's conditioner. It holds the
  transform's options only (bins, bounds, tolerances), no weights, so one
  transformer can serve every layer of a flow; a per-layer variable it needs
  (the "exp_tanh" affine scale factor) is created by the layer
  (`Site.variable`). Its log-derivative comes out of the same computation as
  the value, so a layer still runs its network once per pass.

  Subclasses implement:

  * `num_params`: P, the conditioner outputs per transformed entry;
  * `params(theta, value, site)`: the conditioner's output for the entries
    `value` unpacked and bounded, in whatever form `forward` and `inverse`
    take. Two layouts (`site.layout`): a coupling's conditioner returns
    [..., P * d] along its last axis (each transformer documents its order),
    an autoregressive layer's MADE [..., D, P];
  * `forward(x, params)` -> (y, log g'(x)) and `inverse(y, params)` ->
    (x, log g'(x)), elementwise, both with the forward log-derivative;
  * `get_config()`: the constructor's arguments, so that a builder's
    recorded config can carry the transformer (`from_config`).

  A subclass that zeroes theta on a mask's conditioning entries and is finite
  at theta = 0 sets `zeroes_conditioning = True` (see `bijectors.Coupling`).
  """

  num_params = None
  # Names of the per-layer variables `params` asks `site.variable` for.
  variable_names = ()
  # What theta's P entries are, for the error message of a wrong conditioner.
  params_description = None
  zeroes_conditioning = False

  def params(self, theta, value, site):
    raise NotImplementedError

  def forward(self, x, params):
    raise NotImplementedError

  def inverse(self, y, params):
    raise NotImplementedError

  def get_config(self):
    raise NotImplementedError

  def __eq__(self, other):
    return (type(self) is type(other) and
            self.get_config() == other.get_config())

  def __hash__(self):
    return hash((type(self).__name__, repr(sorted(self.get_config().items()))))

  def __repr__(self):
    arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
    return f"{type(self).__name__}({arguments})"


def check(transformer):
  """Raises a TypeError unless `transformer` is a `Transformer`."""
  if not isinstance(transformer, Transformer):
    raise TypeError(
        "`transformer` must be a tfp_flows.bijectors.transformers."
        "Transformer (Additive, Affine, Spline, LogisticMixture, Sigmoidal); "
        f"got {type(transformer).__name__}.")
