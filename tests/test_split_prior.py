"""SplitPriorNet and ContextBias: Glow's split prior, with a context or not."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import nets
from tfp_flows import testing


def test_starts_at_zero_for_every_context_and_then_depends_on_it():
  net = nets.SplitPriorNet(4, context_shape=[3])
  net.build([None, 4, 4, 2])
  # conv kernel and bias, the context's map: all trainable, all zero.
  assert [v.shape.as_list() for v in net.trainable_variables] == [
      [3, 3, 2, 4], [4], [3, 4]]
  h = tf.random.stateless_normal([2, 4, 4, 2], [1, 2])
  c = tf.one_hot([0, 2], 3)
  np.testing.assert_array_equal(net(h, conditional_input=c),
                                tf.zeros([2, 4, 4, 4]))
  testing.perturb(net, 0.5)
  a = net(h, conditional_input=c)
  b = net(h, conditional_input=tf.one_hot([1, 1], 3))
  # The context adds one vector per example, the same at every position.
  diff = (a - b).numpy()
  np.testing.assert_allclose(diff, np.broadcast_to(diff[:, :1, :1], diff.shape),
                             atol=1e-5)
  assert np.max(np.abs(diff)) > 1e-3


def test_unconditional_and_errors():
  plain = nets.SplitPriorNet(2)
  plain.build([None, 2, 2, 1])
  assert plain.context_shape is None and len(plain.trainable_variables) == 2
  with pytest.raises(ValueError, match="is not conditional"):
    plain(tf.zeros([1, 2, 2, 1]), conditional_input=tf.zeros([1, 3]))
  net = nets.SplitPriorNet(2, context_shape=[3], name="prior")
  net.build([None, 2, 2, 1])
  with pytest.raises(ValueError, match="prior is conditional"):
    net(tf.zeros([1, 2, 2, 1]))
  clone = nets.SplitPriorNet.from_config(net.get_config())
  assert clone.get_config() == net.get_config()
