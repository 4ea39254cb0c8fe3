"""The benchmarks run (tiny sizes, one repeat) so they cannot rot; no timings asserted."""

import json
import os
import re
import subprocess
import sys

import pytest

import tfp_flows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, flags, env=None):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "benchmarks", script)] + flags,
      capture_output=True, text=True, timeout=600,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {})))


def _results(tmp_path, section, script, flags, env=None):
  """Runs `script` at the tiny sizes; returns (stdout, its results section)."""
  proc = _run(script, ["--size", "tiny", "--out", str(tmp_path)] + flags, env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  files = list(tmp_path.glob("*.json"))
  assert len(files) == 1, files
  data = json.loads(files[0].read_text())
  assert {"tensorflow", "tensorflow_probability", "cpu_count", "hostname"} <= \
      set(data["machine"])
  assert {"device", "settings", "results", "markdown"} <= set(data[section])
  assert data[section]["markdown"] in proc.stdout
  return proc.stdout, data[section]


def _table_headers(text):
  """The header rows of the Markdown tables in `text`."""
  lines = text.splitlines()
  return [a for a, b in zip(lines, lines[1:])
          if a.startswith("| ") and b.startswith("| ---") or
          a.startswith("|") and b.startswith("|---")]


def _page(name):
  """The text of the documentation page docs/NAME.md."""
  with open(os.path.join(ROOT, "docs", name + ".md")) as f:
    return f.read()


def _assert_page_has_its_tables(stdout, page, count):
  """docs/PAGE.md shows every table the script prints (same columns)."""
  headers = _table_headers(stdout)
  assert len(headers) >= count, headers
  shown = set(_table_headers(_page(page)))
  missing = [h for h in headers if h not in shown]
  assert not missing, f"tables docs/{page}.md does not show: {missing}"


# About a minute on 2 cores: `make test-slow`, which CI runs after `make test`.
@pytest.mark.slow
def test_speed_benchmark_prints_tables_and_writes_results(tmp_path):
  # Without XLA: compiling every pass twice would double the test's time.
  stdout, section = _results(
      tmp_path, "speed", "speed.py",
      ["--repeats", "1", "--warmup", "1", "--jit", "off"])
  for heading in ("Ours against TFP's built-ins", "Compute floor",
                  "Flow++ sampling", "Peak memory"):
    assert heading in stdout
  results = section["results"]
  assert {r["model"] for r in results["comparisons"]} == {
      "realnvp-vectors", "realnvp-images", "glow", "maf"}
  assert {"ours_ms", "ours_per_s", "reference_ms", "throughput_ratio",
          "goal"} <= set(results["comparisons"][0])
  assert {(r["model"], r["impl"]) for r in results["floor"]} >= {
      ("glow", "ours"), ("glow", "tfb.Glow"), ("realnvp", "ours")}
  assert {r["op"] for r in results["flowpp"]["rows"]} == {
      "log_prob", "encode", "decode", "sample"}
  assert {"ours_peak_mib", "reference_peak_mib", "ratio"} <= set(
      results["memory"])
  _assert_page_has_its_tables(stdout, "benchmarks", 4)


def test_density_benchmark_prints_tables_and_writes_results(tmp_path,
                                                            tfds_dir):
  stdout, section = _results(
      tmp_path, "density", "density.py",
      ["--toys", "moons", "--toy-families", "realnvp", "--datasets",
       "digits", "--image-families", "nice"],
      env={"TFDS_DATA_DIR": tfds_dir})
  assert "| moons (2.394) |" in stdout
  assert "| digits | nice |" in stdout
  toy, = section["results"]["toys"]
  assert {"toy", "family", "entropy", "nll", "gap"} <= set(toy)
  families = [r["family"] for r in section["results"]["images"]]
  assert families == ["factorised Gaussian", "nice"]
  # The benchmarks page's tables are this script's: the same header, and
  # the same cell formats (NLL (gap); bits/dim to 3 decimals).
  page = _page("benchmarks")
  header = "| dataset | flow | steps | parameters | test bits/dim | full runs |"
  assert header in stdout and header in page
  assert re.search(r"\| moons \(2\.394\) \| \d\.\d{3} \([+-]\d\.\d{3}\) \|",
                   stdout)
  assert re.search(r"\| moons \(2\.394\) \| \d\.\d{3} \([+-]\d\.\d{3}\) \|",
                   page)


def test_density_full_run_figures_are_the_readmes_results():
  # benchmarks/density.py prints the README's digits full runs beside its
  # short ones; they must be the Results table's means.
  sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
  try:
    import density  # pylint: disable=g-import-not-at-top
  finally:
    sys.path.pop(0)
  with open(os.path.join(ROOT, "README.md")) as f:
    results = f.read().split("## Results", 1)[1].split("\n## ", 1)[0]
  names = {"nice": "NICE", "glow": "Glow", "realnvp": "RealNVP",
           "flowpp": "Flow++, uniform dequantization"}
  assert set(density.DIGITS_FULL_RUN) == set(names)
  for family, value in density.DIGITS_FULL_RUN.items():
    row = re.search(rf"^\| {re.escape(names[family])} \|.*$", results,
                    re.MULTILINE)
    assert row, family
    assert f"| {value:.2f} ± " in row.group(0), (family, value, row.group(0))


def test_gpu_without_a_gpu_fails_with_a_message():
  proc = _run("speed.py", ["--device", "gpu", "--cases", "glow"],
              env={"CUDA_VISIBLE_DEVICES": ""})
  assert proc.returncode != 0
  assert "TensorFlow sees no GPU" in proc.stderr


@pytest.mark.slow
def test_vi_benchmark_prints_both_tables():
  proc = _run("vi.py", ["--steps", "3", "--draws", "100", "--mcmc-steps",
                        "5", "--seeds", "0"])
  assert proc.returncode == 0, proc.stderr[-3000:]
  for surrogate in ("ours (iaf)", "ours (planar)", "ours (radial)",
                    "ours (sylvester)", "TFP affine", "TFP IAF"):
    for target in ("banana", "funnel10", "logistic_regression", "U1", "U2",
                   "U3", "U4"):
      assert f"| {target} | {surrogate} |" in proc.stdout
  assert "| NeuTra NUTS (ours) |" in proc.stdout
  assert "NeuTra / NUTS, ESS per gradient:" in proc.stdout
  _assert_page_has_its_tables(proc.stdout, "vi", 2)


# Two 28x28 flows traced in a subprocess: `make test-slow` (run by CI).
@pytest.mark.slow
def test_mnist_benchmark_prints_its_table_curves_and_results(sources,
                                                             tmp_path):
  # The fixture MNIST (3 training, 2 test images), prepared here; the
  # benchmark reads it in its own process.
  data_dir = str(tmp_path / "tfds")
  tfp_flows.data.prepare("mnist", sources["mnist"][0], data_dir=data_dir)
  out = tmp_path / "results"
  proc = _run("mnist.py", [
      "--families", "glow,nsf", "--minutes", "0.002", "--batch", "2",
      "--eval-seconds", "0.05", "--curve-images", "2", "--test-images", "2",
      "--pipeline-batches", "2", "--data-dir", data_dir, "--out", str(out)])
  assert proc.returncode == 0, proc.stderr[-3000:]
  (path,) = out.glob("*.json")
  section = json.loads(path.read_text())["mnist"]
  rows = section["results"]["rows"]
  assert [r["family"] for r in rows] == ["factorised Gaussian", "glow", "nsf"]
  for row in rows[1:]:
    assert row["steps"] >= 1 and row["images_per_second"] > 0
    assert section["results"]["curves"][row["family"]]
  assert section["results"]["pipeline_images_per_second"] > 0
  assert section["markdown"] in proc.stdout
  assert "| glow | 29,980 |" in proc.stdout
  assert (out / "mnist_curves.png").stat().st_size > 0
