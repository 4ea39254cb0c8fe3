"""The naf builder: the stack's harness, MADE passes, training on a toy, arguments."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfp_flows import testing
from tfp_flows.flows.naf import naf

import helpers


# The layer has the whole harness in its own test, and the registry's matrix
# exports the conditional flow and serves it in a fresh process; here the
# conditional stack (ActNorm, permutations, the context into every MADE) on
# the other checks: the matrix runs its 16-entry harness in the slow suite.
def test_harness_of_the_conditional_stack():
  def make(dtype):
    tf_keras.utils.set_random_seed(0)
    dist = naf([3], num_layers=2, num_sigmoids=3, hidden_units=[8],
               bound=3., context_shape=[2], dtype=dtype)
    return testing.perturb(dist, 0.3).bijector
  helpers.check_conditional_stack(make)


def test_made_passes_per_log_prob_and_sample(monkeypatch):
  calls = helpers.made_calls(monkeypatch)
  dim, layers = 5, 3
  dist = testing.perturb(naf([dim], num_layers=layers, num_sigmoids=2,
                             hidden_units=[8]), 0.3)
  dist.log_prob(tf.random.stateless_normal([4, dim], [3, 4]))
  assert len(calls) == layers  # closed form: one MADE pass per layer
  calls.clear()
  samples = dist.sample(2, seed=(1, 2))
  assert len(calls) == layers * dim
  assert np.all(np.isfinite(samples))


def test_one_layer_fits_a_bimodal_conditional():
  # MAF's one affine layer can only shift and scale a Gaussian in x1,
  # NAF's sigmoidal map can split it.
  scores = {name: helpers.bimodal_conditional_nll(name, hidden_units=[16])
            for name in ("maf", "naf")}
  print(scores)
  assert scores["naf"] < scores["maf"] - 0.25, scores


def test_bad_arguments():
  with pytest.raises(ValueError, match="`num_sigmoids` must be >= 1"):
    naf([3], num_sigmoids=0)
  with pytest.raises(ValueError, match="`bound` must be a positive"):
    naf([3], bound=float("inf"))
  with pytest.raises(ValueError, match="`event_shape` must hold at least 2"):
    naf([1])
  with pytest.raises(TypeError):
    naf([3], 2)  # pylint: disable=too-many-function-args
