"""Shape checks shared by the image-flow builders."""

__all__ = ["check_image_shape"]


def check_image_shape(event_shape, num_scales):
  """Returns `event_shape` as [H, W, C] ints; H and W divisible by 2**num_scales."""
  shape = [int(d) for d in event_shape]
  if len(shape) != 3 or min(shape) < 1:
    raise ValueError(
        f"`event_shape` must be [H, W, C] for this image flow; got "
        f"{list(event_shape)}.")
  factor = 2**num_scales
  if shape[0] % factor or shape[1] % factor:
    raise ValueError(
        f"`event_shape` {shape}: H and W must be divisible by 2**{num_scales} = "
        f"{factor} (each level squeezes by 2).")
  return shape
