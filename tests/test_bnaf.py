"""The bnaf builder: the (gated, conditional) stack's harness, a bimodal conditional in one layer, arguments."""

import pytest
import tf_keras

from tfp_flows import testing
from tfp_flows.flows.bnaf import bnaf

import helpers


# The layer has the whole harness in its own test; here the conditional
# stack (ActNorm, permutations, the context into every layer) on the
# checks other than XLA and SavedModel, which the registry's matrix runs
# (on the plain layers: here with the gated residual).
def test_harness_of_the_conditional_gated_stack():
  def make(dtype):
    tf_keras.utils.set_random_seed(0)
    dist = bnaf([3], num_layers=2, hidden_units=[3], bound=3.,
                gated_residual=True, context_shape=[2], dtype=dtype)
    gates = [v for v in dist.trainable_variables if "gate" in v.name]
    assert len(gates) == 2
    return testing.perturb(dist, 0.3).bijector
  helpers.check_conditional_stack(make)


def test_one_layer_fits_a_bimodal_conditional():
  # MAF's one affine layer can only shift and scale a Gaussian in x1,
  # BNAF's monotone network can split it.
  scores = {"maf": helpers.bimodal_conditional_nll("maf", hidden_units=[16]),
            "bnaf": helpers.bimodal_conditional_nll("bnaf",
                                                    hidden_units=[16, 16])}
  print(scores)
  assert scores["bnaf"] < scores["maf"] - 0.25, scores


def test_bad_arguments():
  with pytest.raises(ValueError, match="`hidden_units` must be positive"):
    bnaf([3], hidden_units=[0])
  with pytest.raises(ValueError, match="`bound` must be a positive"):
    bnaf([3], bound=float("inf"))
  with pytest.raises(ValueError, match="`event_shape` must hold at least 2"):
    bnaf([1])
  with pytest.raises(TypeError):
    bnaf([3], 2)  # pylint: disable=too-many-function-args
