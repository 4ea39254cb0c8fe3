"""tfp_flows.data.prepare and `tfp-flows data prepare`, offline: TFDS's own
MNIST and Fashion-MNIST builders read tiny files written here, whose
checksums stand in for the ones TFDS records."""

import json
import os

import numpy as np
import pytest
from tensorflow_datasets.core.download import checksums

from tfp_flows import cli, data

import helpers

# `sources` (tests/conftest.py): the datasets' files, written by
# `helpers.mnist_sources`.


def _assert_loads_back(name, split, data_dir, images, labels):
  """The prepared split holds exactly these (image, label) pairs."""
  ds = data.load(name, split, batch_size=10, dequantize=False, shuffle=False,
                 with_labels=True, data_dir=data_dir)
  x, y = (t.numpy() for t in next(iter(ds)))
  # TFDS stores examples in an order of its own; the labels of a split are
  # distinct, so sorting by them pairs each example with its source.
  order, source_order = np.argsort(y), np.argsort(labels)
  np.testing.assert_array_equal(y[order], labels[source_order])
  # Bin centres (k + 0.5) / 256 back to k.
  np.testing.assert_array_equal(
      np.floor(x[order] * 256).astype(np.uint8), images[source_order])


def test_prepares_from_the_files_and_loads_back(sources, tmp_path):
  data_dir = str(tmp_path / "tfds")
  folder, arrays = sources["mnist"]
  info = data.prepare("mnist", folder, data_dir=data_dir)
  assert {s: info.splits[s].num_examples for s in info.splits} == helpers.MNIST_FIXTURE_SIZES
  assert info.data_dir.startswith(data_dir)
  for split, (images, labels) in arrays.items():
    _assert_loads_back("mnist", split, data_dir, images, labels)


def test_datasets_with_the_same_file_names_do_not_mix(sources, tmp_path):
  data_dir = str(tmp_path / "tfds")
  for name in ("mnist", "fashion_mnist"):
    data.prepare(name, sources[name][0], data_dir=data_dir)
  for name in ("mnist", "fashion_mnist"):
    for split, (images, labels) in sources[name][1].items():
      _assert_loads_back(name, split, data_dir, images, labels)


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_a_missing_or_altered_file_is_refused_in_one_line(damage, sources,
                                                          tmp_path):
  folder, _ = sources["mnist"]
  path = folder / "train-labels-idx1-ubyte.gz"
  expected = checksums.compute_url_info(path)
  if damage == "missing":
    path.unlink()
  else:
    altered = bytearray(path.read_bytes())
    altered[-1] ^= 1  # Same size, another sha256.
    path.write_bytes(bytes(altered))
  data_dir = tmp_path / "tfds"
  with pytest.raises(ValueError) as e:
    data.prepare("mnist", folder, data_dir=data_dir)
  message = str(e.value)
  assert "\n" not in message
  verdict = {"missing": "is missing",
             "altered": "is not the file TFDS downloads"}[damage]
  assert f"{path} {verdict}" in message
  assert f"{int(expected.size)} bytes, sha256 {expected.checksum}" in message
  if damage == "altered":
    found = checksums.compute_url_info(path)
    assert f"found {int(found.size)} bytes, sha256 {found.checksum}" in message
  # Refused before TFDS was called: nothing extracted, nothing prepared.
  assert not (data_dir / "downloads").exists()
  assert not (data_dir / "mnist").exists()


def test_cli_data_prepare(sources, tmp_path, capsys):
  folder, _ = sources["mnist"]
  data_dir = tmp_path / "tfds"
  assert cli.main(["data", "prepare", "mnist", "--from", str(folder),
                   "--data-dir", str(data_dir)]) == 0
  out = capsys.readouterr().out
  assert f"mnist/3.0.1 prepared in {data_dir}" in out
  assert "(examples: test 2, train 3)" in out

  assert cli.main(["data", "prepare", "fashion_mnist", "--from",
                   str(tmp_path / "empty"), "--data-dir", str(data_dir)]) == 2
  captured = capsys.readouterr()
  lines = captured.err.splitlines()
  assert len(lines) == 1, captured.err
  assert lines[0].startswith("tfp-flows: error: Cannot prepare "
                             "'fashion_mnist': ")
  assert "t10k-images-idx3-ubyte.gz is missing" in lines[0]
  assert not captured.out


def test_cli_data_prepare_without_a_folder_is_one_line(capsys):
  with pytest.raises(SystemExit) as e:
    cli.main(["data", "prepare", "mnist"])
  assert e.value.code == 2
  lines = capsys.readouterr().err.splitlines()
  assert lines == ["tfp-flows: error: the following arguments are required: "
                   "--from (see tfp-flows data prepare --help)"]


def test_cli_trains_evaluates_samples_and_exports_on_prepared_mnist(
    sources, tmp_path, capsys):
  # The README's MNIST route end to end on the 3 + 2 fixture images: 28x28
  # through Glow's default two squeezes (28 -> 14 -> 7).
  folder, _ = sources["mnist"]
  data_dir, out = str(tmp_path / "tfds"), str(tmp_path / "glow-mnist")
  assert cli.main(["data", "prepare", "mnist", "--from", str(folder),
                   "--data-dir", data_dir]) == 0
  assert cli.main(["train", "--flow", "glow", "--dataset", "mnist",
                   "--data-dir", data_dir, "--batch-size", "3", "--num-layers",
                   "1", "--hidden-units", "4", "--epochs", "1",
                   "--num-samples", "4", "--out", out]) == 0
  with open(os.path.join(out, "metrics.json")) as f:
    metrics = json.load(f)
  assert metrics["dataset"] == "mnist" and np.isfinite(
      metrics["test_bits_per_dim"])
  assert cli.main(["evaluate", "--model", out, "--data-dir", data_dir]) == 0
  assert cli.main(["sample", "--model", out, "--n", "2", "--out",
                   str(tmp_path / "s.png")]) == 0
  assert cli.main(["export", "--model", out, "--out",
                   str(tmp_path / "served")]) == 0
  printed = capsys.readouterr().out
  assert "test NLL:" in printed and "samples:" in printed
  assert os.path.exists(tmp_path / "served" / "saved_model.pb")


def test_get_mnist_restores_a_gzip_header_byte_for_byte():
  # Debian's Fashion-MNIST files lack the gzip header's file name and time
  # (flags 0, mtime 0, the rest as it was); scripts/get_mnist.py puts them
  # back, which must give the file written with them byte for byte.
  import gzip  # pylint: disable=g-import-not-at-top
  import importlib.util  # pylint: disable=g-import-not-at-top
  import io  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location("get_mnist", os.path.join(
      os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts",
      "get_mnist.py"))
  get_mnist = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(get_mnist)
  payload = bytes(range(256)) * 40
  original = io.BytesIO()
  with gzip.GzipFile(filename="t10k-labels-idx1-ubyte", mode="wb",
                     fileobj=original, mtime=1504176627) as f:
    f.write(payload)
  name_end = original.getvalue().index(b"\0", 10) + 1
  stripped = (original.getvalue()[:3] + bytes(5) +
              original.getvalue()[8:10] + original.getvalue()[name_end:])
  assert gzip.decompress(stripped) == payload
  assert get_mnist.restore_gzip_header(
      stripped, "t10k-labels-idx1-ubyte", 1504176627) == original.getvalue()
  with pytest.raises(ValueError, match="without optional fields"):
    get_mnist.restore_gzip_header(original.getvalue(), "x", 0)
