"""Argument checks shared by the data modules."""

import numpy as np


def _check_positive_int(arg_name: str, value) -> None:
  is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
  if not is_int or value <= 0:
    raise ValueError(
      f"{arg_name} must be a positive integer, got {value!r} "
      f"({type(value).__name__})."
    )
