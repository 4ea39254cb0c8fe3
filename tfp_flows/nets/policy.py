"""The Keras dtype policy of a flow's networks."""

import tensorflow as tf

__all__ = ["layer_dtype"]


def layer_dtype(dtype):
  """Keras `dtype` argument for the networks of a flow of float `dtype`.

  A float32 flow's networks follow the global Keras policy, so
  `tf_keras.mixed_precision.set_global_policy("mixed_float16")` makes them
  compute in half precision (the couplings cast their outputs back). Any other
  flow dtype (float64) is imposed on its networks.
  """
  dtype = tf.as_dtype(dtype)
  return None if dtype == tf.float32 else dtype.name
