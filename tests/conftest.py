"""Shared test set-up: quiet TensorFlow, a per-session TFDS data dir."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=g-import-not-at-top


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
  """A TFDS data dir shared by the session, so digits is prepared once."""
  path = tmp_path_factory.mktemp("tfds")
  os.environ["TFDS_DATA_DIR"] = str(path)
  return str(path)
