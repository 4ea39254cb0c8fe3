"""The bnaf builder: the stack's harness, a bimodal conditional in one layer, arguments."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import testing
from tfp_flows.flows import registry
from tfp_flows.flows.bnaf import bnaf


# The layer has the whole harness in its own test; here the conditional
# stack (ActNorm, permutations, the context into every layer) on the
# checks other than XLA and SavedModel, which the registry's matrix runs.
def test_harness_of_the_conditional_stack():
  def make(dtype):
    tf_keras.utils.set_random_seed(0)
    dist = bnaf([3], num_layers=2, hidden_units=[3], bound=3.,
                context_shape=[2], dtype=dtype)
    return testing.perturb(dist, 0.3).bijector
  checks = [c for c in testing.ALL_CHECKS
            if c not in ("jit_compile", "saved_model")]
  testing.check_bijector(make, [3], expect_trainable=True, batch_shape=(2,),
                         tolerances=testing.DEEP_FLOW_TOLERANCES,
                         checks=checks, context=np.array([0.5, -1.]))


def test_one_layer_fits_a_bimodal_conditional():
  # x1 | x0 has two modes (x1 = +-2 + noise): MAF's one affine layer can
  # only shift and scale a Gaussian in x1, BNAF's monotone network can
  # split it.
  rng = np.random.default_rng(0)
  x0 = rng.normal(size=4096)
  x1 = np.sign(rng.normal(size=4096)) * 2. + 0.3 * rng.normal(size=4096)
  data = np.stack([x0, x1], 1).astype(np.float32)
  scores = {}
  for name, kwargs in (("maf", dict(hidden_units=[16])),
                       ("bnaf", dict(hidden_units=[16, 16]))):
    tf_keras.utils.set_random_seed(0)
    dist = registry.BUILDERS[name]([2], num_layers=1, **kwargs)
    model = tfp_flows.FlowModel(dist)
    model.compile(tf_keras.optimizers.Adam(1e-2))
    model.fit(tf.data.Dataset.from_tensor_slices(data).batch(256).repeat(),
              steps_per_epoch=150, epochs=1, verbose=0)
    scores[name] = -float(tf.reduce_mean(dist.log_prob(data)))
  # Entropies: x0 1.42 nats, x1 (two modes) 0.91; MAF cannot beat the best
  # single Gaussian in x1 (its variance 4.09: 2.12 nats).
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
