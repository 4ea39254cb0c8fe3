"""Atomic replacement of output folders."""

import contextlib
import os
import shutil
import tempfile

__all__ = ["atomic_directory", "restore_interrupted"]

# atomic_directory moves a replaced folder to <parent>/.old-XXXX/<its name>.
_OLD_PREFIX = ".old-"


def _set_aside(path):
  """The folders <parent>/.old-*/<name of path> left by replacements of `path`."""
  parent, name = os.path.split(path)
  if not os.path.isdir(parent):
    return []
  found = (os.path.join(parent, entry, name) for entry in os.listdir(parent)
           if entry.startswith(_OLD_PREFIX))
  return [p for p in found if os.path.isdir(p)]


def restore_interrupted(path):
  """Puts the previous `path` back if a replacement stopped half-way.

  `atomic_directory` replaces an existing folder by two renames (the old
  folder aside, then the new one in); a process killed between them leaves
  no `path`, and the old folder under <parent>/.old-XXXX/. This moves the
  newest such folder back. With `path` present it only deletes what a
  finished replacement did not get to delete.

  Returns:
    True when a previous folder was put back.
  """
  path = os.path.abspath(path)
  aside = _set_aside(path)
  restored = False
  if aside and not os.path.exists(path):
    # The newest set-aside folder: its .old-XXXX was made last.
    os.rename(max(aside, key=lambda p: os.path.getmtime(os.path.dirname(p))),
              path)
    restored = True
  for folder in aside:
    shutil.rmtree(os.path.dirname(folder), ignore_errors=True)
  return restored


@contextlib.contextmanager
def atomic_directory(path):
  """Yields a staging folder that replaces `path` only if the block succeeds.

  The staging folder sits beside `path` (same file system), so each rename
  is atomic: a process killed or failing while writing leaves the previous
  `path` untouched, and no half-written folder under its name. Replacing
  an existing folder takes two renames; a kill between them leaves the
  previous folder aside, which `restore_interrupted` (run by the next
  write and by `load_flow`) puts back.
  """
  path = os.path.abspath(path)
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  restore_interrupted(path)
  staging = tempfile.mkdtemp(prefix=".staging-", dir=parent)
  try:
    yield staging
    if os.path.exists(path):
      old = tempfile.mkdtemp(prefix=_OLD_PREFIX, dir=parent)
      os.rename(path, os.path.join(old, os.path.basename(path)))
      os.rename(staging, path)
      shutil.rmtree(old, ignore_errors=True)
    else:
      os.rename(staging, path)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
