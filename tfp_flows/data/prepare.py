"""`prepare`: a TFDS dataset prepared from copies of its download files.

With a network, TFDS downloads a catalog dataset's files from their hosts by
itself. On a machine that cannot reach those hosts but has the very same
files from elsewhere, :func:`prepare` checks each file against the size and
sha256 that TFDS records for it, and has TFDS prepare the dataset from them
as if it had downloaded them.
"""

from __future__ import annotations

import os

import tensorflow_datasets as tfds

from tfp_flows.data.catalog import (_catalog_builder, _quiet_tfds,
                                    _resolve_data_dir)

__all__ = ["prepare"]


def _expected_files(name: str, builder: tfds.core.DatasetBuilder) -> dict:
  """{file name: (url, UrlInfo)} of every file TFDS records for `builder`."""
  url_infos = builder.url_infos or {}
  files = {info.filename: (url, info) for url, info in url_infos.items()}
  # TFDS looks a file up in its manual folder by this name alone, so every
  # recorded file needs one, and a name of its own.
  if not url_infos or not all(files) or len(files) != len(url_infos):
    raise ValueError(
      f"Dataset {name!r} cannot be prepared from a folder of files: TFDS "
      "records no download files for it, or not one distinct file name per "
      "URL."
    )
  return files


def _check_file(name: str, path: str, url: str, expected) -> None:
  """Raises a one-line ValueError unless `path` is the file TFDS expects."""
  wanted = f"{int(expected.size)} bytes, sha256 {expected.checksum}"
  if not os.path.isfile(path):
    raise ValueError(
      f"Cannot prepare {name!r}: {path} is missing (expected the file TFDS "
      f"downloads from {url}: {wanted})."
    )
  found = tfds.core.download.checksums.compute_url_info(path)
  if found != expected:  # UrlInfo compares size and sha256.
    raise ValueError(
      f"Cannot prepare {name!r}: {path} is not the file TFDS downloads from "
      f"{url}: expected {wanted}; found {int(found.size)} bytes, sha256 "
      f"{found.checksum}."
    )


def prepare(name: str, source_dir, *, data_dir=None) -> tfds.core.DatasetInfo:
  """Prepares TFDS dataset `name` from its download files in `source_dir`.

  For machines that cannot reach the dataset's own hosts; with a network,
  ``tfp_flows.data.load(name, download=True)`` lets TFDS download them. Each
  file that TFDS records for the dataset (its ``url_checksums``: URL, size,
  sha256, file name; for a dataset with configs, those of all its configs)
  must be in `source_dir` under its recorded name, which for plain files is
  the URL's basename (MNIST's ``train-images-idx3-ubyte.gz`` and three
  more). All are checked against TFDS's size and sha256 before TFDS is called
  (and TFDS checks them again as it reads them); TFDS then prepares the
  dataset as after a download.

  TFDS's extracted copies go to ``<data_dir>/downloads/local-files/<dataset>``,
  a folder per dataset: TFDS names extracted files after the downloaded ones,
  so datasets with the same file names (MNIST and Fashion-MNIST) sharing one
  folder would silently read each other's data.

  The files are checked even when the dataset is already prepared in
  `data_dir`; TFDS then leaves it as it is.

  Args:
    name: TFDS catalog name, e.g. ``"mnist"`` or ``"fashion_mnist"`` (a
      version, ``"mnist:3.0.1"``, or a config may follow, as in
      ``tfds.builder``).
    source_dir: Folder holding the dataset's download files.
    data_dir: TFDS data directory; ``None`` means ``$TFDS_DATA_DIR`` or
      ``~/tensorflow_datasets``.

  Returns:
    The prepared dataset's ``tfds.core.DatasetInfo`` (``data_dir``: where it
    was written; ``splits``: its splits and their sizes).

  Raises:
    ValueError: unknown dataset, one that TFDS records no plain download
      files for, or a missing or altered file; one line naming the file, with
      the size and sha256 expected (and, for an altered file, found).
  """
  if name == "digits":
    raise ValueError(
      "Dataset 'digits' needs no files: tfp_flows.data.load builds it "
      "offline from scikit-learn's copy."
    )
  data_dir = _resolve_data_dir(data_dir)
  builder = _catalog_builder(name, data_dir)
  source_dir = os.path.expanduser(os.fspath(source_dir))
  for filename, (url, info) in sorted(_expected_files(name, builder).items()):
    _check_file(name, os.path.join(source_dir, filename), url, info)
  with _quiet_tfds():
    builder.download_and_prepare(
      download_dir=os.path.join(data_dir, "downloads", "local-files",
                                builder.name),
      # try_download_gcs=False: the default first probes Google Cloud
      # Storage for a pre-built copy, which hangs without network.
      download_config=tfds.download.DownloadConfig(
        manual_dir=source_dir, try_download_gcs=False
      ),
    )
  return builder.info
