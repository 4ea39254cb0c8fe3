"""Shape checks shared by the image-flow builders."""

__all__ = ["check_image_shape"]


def check_image_shape(image_shape, num_scales):
  """Returns `image_shape` as [H, W, C] ints; H and W divisible by 2**num_scales."""
  shape = [int(d) for d in image_shape]
  if len(shape) != 3 or min(shape) < 1:
    raise ValueError(f"`image_shape` must be [H, W, C]; got {list(image_shape)}.")
  factor = 2**num_scales
  if shape[0] % factor or shape[1] % factor:
    raise ValueError(
        f"`image_shape` {shape}: H and W must be divisible by 2**{num_scales} = "
        f"{factor} (each level squeezes by 2).")
  return shape
