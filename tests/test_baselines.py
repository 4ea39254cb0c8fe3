"""The factorised Gaussian baseline."""

import numpy as np
import tensorflow as tf

from tfp_flows import baselines


def test_fits_mean_and_std_per_dimension():
  x = np.random.default_rng(0).normal([1., -2.], [0.5, 3.], size=[4000, 2])
  ds = tf.data.Dataset.from_tensor_slices(x.astype(np.float32)).batch(128)
  dist = baselines.factorized_gaussian(ds)
  np.testing.assert_allclose(dist.mean(), x.mean(0), rtol=1e-4)
  np.testing.assert_allclose(dist.stddev(), x.std(0), rtol=1e-4)
  assert dist.event_shape == [2]
