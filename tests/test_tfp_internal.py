"""Each use of TFP's internals, checked where it is made: `tfp_internal`."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import bijectors
from tfp_flows import nets
from tfp_flows import tfp_internal
from tfp_flows.bijectors import base

tfb = tfp.bijectors


def test_internal_modules_have_what_we_use():
  ps = tfp_internal.ps
  x = tf.zeros([2, 3])
  assert ps.rank(x) == 2 and list(ps.shape(x)) == [2, 3] and ps.size(x) == 6
  assert list(ps.concat([[1], [2]], 0)) == [1, 2]
  cache = tfp_internal.cache_util.BijectorCacheWithGreedyAttrs
  assert callable(cache)
  shape = tfp_internal.tensorshape_util.constant_value_as_shape(
      tf.constant([2, 3]))
  assert shape.as_list() == [2, 3]
  v = tf.Variable(1.)
  assert tfp_internal.tensor_util.convert_nonref_to_tensor(v) is v
  assert tfp_internal.parameter_properties.ParameterProperties
  results = tfp.mcmc.HamiltonianMonteCarlo(
      lambda x: -x**2, step_size=0.1, num_leapfrog_steps=3).bootstrap_results(
          tf.zeros([]))
  accepted = tfp_internal.unnest.get_innermost(results, "is_accepted")
  assert accepted.dtype == tf.bool
  with pytest.raises(tf.errors.InvalidArgumentError):
    tfp_internal.assert_util.assert_equal(1, 2, message="no")


def test_missing_internal_is_named():
  with pytest.raises(ImportError, match="internal.no_such_module"):
    tfp_internal._internal("internal.no_such_module")  # pylint: disable=protected-access
  with pytest.raises(ImportError, match=r"\['no_such_name'\]"):
    tfp_internal._internal("internal.prefer_static", ["no_such_name"])  # pylint: disable=protected-access


def test_chain_and_invert_members_with_keras_layers():
  net = nets.MLP([4], 2)
  net.build([None, 1])
  coupling = bijectors.AffineCoupling(net, num_masked=1, channels=1)
  # Keras layers inside make TFP build its private classes.
  chain = tfb.Chain([coupling, tfb.Shift(1.)])
  assert type(chain) is not tfb.Chain  # pylint: disable=unidiomatic-typecheck
  assert tfp_internal.chain_members(chain) == list(chain.bijectors)
  inverted = tfb.Invert(coupling)
  assert tfp_internal.inverted_bijector(inverted) is coupling
  assert tfp_internal.chain_members(coupling) is None
  assert tfp_internal.inverted_bijector(chain) is None


def test_autoregressive_network_layers():
  made = nets.MADE(3, [4])
  made.build([None, 3])
  layers = tfp_internal.autoregressive_network_layers(made)
  # The zeroed output layer is among them: MADE starts as the identity.
  kernels = [l.kernel for l in layers if hasattr(l, "kernel")]
  assert kernels and not np.any(kernels[-1].numpy())
  with pytest.raises(AttributeError, match="_network"):
    tfp_internal.autoregressive_network_layers(object())


def test_protected_hooks_we_override_exist():
  # Our cache key, parameter properties and greedy cache are TFP's hooks.
  for hook in ("_get_parameterization", "_parameter_properties", "_cache"):
    assert hasattr(tfb.Bijector, hook), hook
  a, b = bijectors.ActNorm(2), bijectors.ActNorm(2)
  assert a._get_parameterization() != b._get_parameterization()  # pylint: disable=protected-access
  assert isinstance(base.AugmentedBijector._cache,  # pylint: disable=protected-access
                    tfp_internal.cache_util.BijectorCacheWithGreedyAttrs)
  assert a.forward(tf.ones([1, 1, 1, 2])).shape == [1, 1, 1, 2]


def test_in_xla_context_tells_compiled_functions_apart():
  seen = {}
  for jit_compile in (False, True):
    tf.function(lambda: seen.setdefault(jit_compile,
                                        tfp_internal.in_xla_context()),
                jit_compile=jit_compile).get_concrete_function()
  assert seen == {False: False, True: True}
  assert not tfp_internal.in_xla_context()  # eager
