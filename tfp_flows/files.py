"""Atomic replacement of output folders."""

import contextlib
import os
import shutil
import tempfile

__all__ = ["atomic_directory"]


@contextlib.contextmanager
def atomic_directory(path):
  """Yields a staging folder that replaces `path` only if the block succeeds.

  The staging folder sits beside `path` (same file system), so the final
  rename is atomic: a process killed or failing while writing leaves the
  previous `path` untouched, and no half-written folder under its name.
  """
  path = os.path.abspath(path)
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=".staging-", dir=parent)
  try:
    yield staging
    if os.path.exists(path):
      old = tempfile.mkdtemp(prefix=".old-", dir=parent)
      os.rename(path, os.path.join(old, "previous"))
      os.rename(staging, path)
      shutil.rmtree(old, ignore_errors=True)
    else:
      os.rename(staging, path)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
