"""GatedAttentionNet: build, zero output, attention, dropout, harness."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfp_flows import testing
from tfp_flows.bijectors.logistic_mixture_coupling import \
    LogisticMixtureCoupling
from tfp_flows.nets.gated_attention import GatedAttentionNet


def _net(**kwargs):
  args = dict(filters=8, output_channels=6, num_blocks=1, num_heads=2)
  args.update(kwargs)
  return GatedAttentionNet(**args)


def _randomise_output(net):
  net.conv_out.kernel.assign(
      tf.random.stateless_normal(net.conv_out.kernel.shape, [1, 2],
                                 dtype=net.conv_out.kernel.dtype))


def test_build_creates_every_variable_and_output_starts_at_zero():
  net = _net(num_blocks=2, feature_channels=3)
  net.build([None, 8, 8, 2])
  # conv_in 2; per block conv 2, gate 2, norm 2, features 2, qkv 2, attention
  # gate 2, attention norm 2; positions 1; conv_out 2.
  assert len(net.trainable_variables) == 2 + 2 * 14 + 1 + 2
  assert net.positions.shape == [8, 8, 8]
  x = tf.random.normal([3, 8, 8, 2])
  out = net(x, features=tf.random.normal([3, 8, 8, 3]))
  assert out.shape == [3, 8, 8, 6]
  np.testing.assert_array_equal(out, np.zeros([3, 8, 8, 6]))
  assert len(net.trainable_variables) == 2 + 2 * 14 + 1 + 2


@pytest.mark.parametrize("num_heads", [0, 2])
def test_attention_reaches_beyond_the_convolutions(num_heads):
  # One block: three 3x3 convolutions see 3 pixels away at most.
  net = _net(num_heads=num_heads)
  net.build([None, 8, 8, 1])
  _randomise_output(net)
  x = tf.random.stateless_normal([1, 8, 8, 1], [3, 4])
  moved = tf.tensor_scatter_nd_add(x, [[0, 7, 7, 0]], [5.])
  change = np.max(np.abs(net(moved)[0, 0, 0] - net(x)[0, 0, 0]))
  if num_heads:
    assert change > 1e-4
  else:
    assert change == 0.


def test_dropout_only_in_training_and_inherited_from_keras_models():
  net = _net(dropout=0.5, output_channels=5)  # K = 1, d_B = 1 below.
  net.build([None, 4, 4, 1])
  _randomise_output(net)
  x = tf.random.normal([2, 4, 4, 1])
  np.testing.assert_array_equal(net(x), net(x))
  np.testing.assert_array_equal(net(x), net(x, training=False))
  assert np.max(np.abs(net(x, training=True) - net(x))) > 1e-3

  class Wrapper(tf_keras.Model):
    """Calls the net inside a coupling, as FlowModel does: no flag passed."""

    def __init__(self):
      super().__init__()
      self.layer = LogisticMixtureCoupling(
          net, num_components=1, num_masked=1, event_ndims=3)

    def call(self, x):
      return self.layer.forward(x)

  wrapper = Wrapper()
  z = tf.random.normal([2, 4, 4, 2])
  # Fresh tensors: TFP's bijector cache, keyed on the input tensor, would
  # answer the second call with the first one's result, whatever the flag.
  inference = wrapper(tf.identity(z))
  np.testing.assert_array_equal(wrapper(tf.identity(z), training=False),
                                inference)
  assert np.max(np.abs(wrapper(tf.identity(z), training=True) - inference)) > (
      1e-4)


def test_harness_as_a_channel_split_conditioner():
  tf_keras.utils.set_random_seed(0)
  k = 2

  def make(dtype):
    net = _net(filters=4, output_channels=(3 * k + 2) * 2, dtype=dtype)
    net.build([None, 2, 2, 2])
    return LogisticMixtureCoupling(net, num_components=k, num_masked=2,
                                   event_ndims=3, dtype=dtype)

  testing.check_bijector(make, event_shape=[2, 2, 4], expect_trainable=True)


def test_config_round_trip():
  net = _net(dropout=0.1, feature_channels=2, zero_init_output=False)
  clone = GatedAttentionNet.from_config(net.get_config())
  assert clone.get_config() == net.get_config()


def test_bad_arguments():
  with pytest.raises(ValueError, match=r"`num_heads` \(3\) must divide"):
    _net(num_heads=3)
  with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\)"):
    _net(dropout=1.)
  with pytest.raises(ValueError, match="`filters` must be an integer >= 1"):
    _net(filters=0)
  with pytest.raises(ValueError, match="static height and width"):
    _net().build([None, None, None, 1])
  net = _net(feature_channels=2)
  net.build([None, 4, 4, 1])
  with pytest.raises(ValueError, match="pass `features`"):
    net(tf.zeros([1, 4, 4, 1]))
  plain = _net()
  plain.build([None, 4, 4, 1])
  with pytest.raises(ValueError, match="takes no `features`"):
    plain(tf.zeros([1, 4, 4, 1]), features=tf.zeros([1, 4, 4, 2]))
  with pytest.raises(ValueError, match="is not conditional"):
    plain(tf.zeros([1, 4, 4, 1]), conditional_input=tf.zeros([1, 3]))


def test_context_shifts_the_output_per_class():
  net = _net(context_shape=[3], zero_init_output=False)
  net.build([None, 4, 4, 1])
  x = tf.random.stateless_normal([2, 4, 4, 1], [1, 2])
  c = tf.one_hot([0, 2], 3)
  a = net(x, conditional_input=c)
  b = net(x, conditional_input=tf.one_hot([1, 1], 3))
  assert np.max(np.abs(a - b)) > 1e-3
  # One context for the batch equals it repeated.
  np.testing.assert_allclose(net(x, conditional_input=c[0]),
                             net(x, conditional_input=tf.stack([c[0]] * 2)),
                             rtol=1e-6)
  with pytest.raises(ValueError, match="`conditional_input` of shape"):
    net(x)
