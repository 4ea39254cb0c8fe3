"""Atomic folder replacement: a replacement stopped between its renames."""

import os

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows
from tfp_flows import files
from tfp_flows.flows import registry


def _write(path, text):
  with files.atomic_directory(path) as staging:
    with open(os.path.join(staging, "data.txt"), "w") as f:
      f.write(text)


def _read(path):
  with open(os.path.join(path, "data.txt")) as f:
    return f.read()


def _interrupt_second_rename(monkeypatch):
  """Makes the rename that moves the new folder in fail, as a kill would."""
  rename = os.rename
  calls = []

  def failing(src, dst):
    calls.append(src)
    if len(calls) == 2:
      raise OSError("killed between the renames")
    rename(src, dst)

  monkeypatch.setattr(os, "rename", failing)
  return lambda: monkeypatch.setattr(os, "rename", rename)


def test_replacement_and_siblings(tmp_path):
  target, sibling = str(tmp_path / "out"), str(tmp_path / "out-2")
  _write(target, "one")
  _write(sibling, "sibling")
  _write(target, "two")
  assert _read(target) == "two" and _read(sibling) == "sibling"
  assert sorted(os.listdir(tmp_path)) == ["out", "out-2"]
  assert not files.restore_interrupted(target)


def test_interrupted_replacement_is_restored_by_the_next_write(tmp_path,
                                                               monkeypatch):
  target, sibling = str(tmp_path / "out"), str(tmp_path / "out-2")
  _write(target, "one")
  _write(sibling, "sibling")
  undo = _interrupt_second_rename(monkeypatch)
  with pytest.raises(OSError, match="between the renames"):
    _write(target, "two")
  undo()
  assert not os.path.exists(target)  # the window this guards
  # Another folder's set-aside copies are not this one's.
  assert not files.restore_interrupted(sibling)
  _write(target, "three")
  assert _read(target) == "three" and _read(sibling) == "sibling"
  assert sorted(os.listdir(tmp_path)) == ["out", "out-2"]


def test_load_flow_restores_an_interrupted_save(tmp_path, monkeypatch):
  target = str(tmp_path / "flow")
  dist = registry.build("nice", [4], hidden_units=[8])
  for v in dist.trainable_variables:
    v.assign(tf.fill(v.shape, 0.5))
  tfp_flows.save_flow(dist, target)
  undo = _interrupt_second_rename(monkeypatch)
  with pytest.raises(OSError):
    tfp_flows.save_flow(dist, target)
  undo()
  loaded, _ = tfp_flows.load_flow(target)
  for v in loaded.trainable_variables:
    np.testing.assert_array_equal(v, 0.5)
  assert os.listdir(tmp_path) == ["flow"]
