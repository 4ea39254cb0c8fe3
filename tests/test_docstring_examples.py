"""Every example in the package's docstrings runs as written.

The ```python blocks of every module's, class's and function's docstring
under `tfp_flows` are collected (the API reference renders them) and each
is executed in a fresh namespace holding what the examples take as
imported: `np`, `tf`, `tf_keras` and `tfp_flows`; in a temporary working
directory, since some write files (exports, runs). Examples that train
(a few epochs, tens of seconds on 2 cores) run in the slow suite.
"""

import ast
import importlib
import pkgutil
import re

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows

_BLOCK = re.compile(r"```python\n(.*?)```", re.S)

# Examples that train or sample with MCMC: 5-25 s each on 2 cores.
SLOW = {"tfp_flows.experiment", "tfp_flows.neutra",
        "tfp_flows.training.FlowModel", "tfp_flows.vi",
        "tfp_flows.vi.VariationalFlowModel"}


def _examples():
  """[(id, where, code)] of every ```python block in a docstring."""
  found = []
  modules = ["tfp_flows"] + [
      m.name for m in pkgutil.walk_packages(tfp_flows.__path__, "tfp_flows.")]
  for name in modules:
    module = importlib.import_module(name)
    with open(module.__file__) as f:
      tree = ast.parse(f.read())
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(
        n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    for node in nodes:
      owner = name if node is tree else f"{name}.{node.name}"
      for i, code in enumerate(_BLOCK.findall(ast.get_docstring(node) or "")):
        found.append((f"{owner}[{i}]", owner, code))
  return found


EXAMPLES = _examples()


def test_examples_are_found():
  # A broken collector must not pass by finding nothing.
  assert len(EXAMPLES) >= 30, len(EXAMPLES)


@pytest.mark.parametrize("owner,code", [
    pytest.param(owner, code, id=name,
                 marks=[pytest.mark.slow] * (owner in SLOW))
    for name, owner, code in EXAMPLES])
def test_example_runs(owner, code, tmp_path, monkeypatch, tfds_dir):
  del tfds_dir  # digits is prepared in the session's own TFDS dir
  monkeypatch.chdir(tmp_path)
  namespace = dict(np=np, tf=tf, tf_keras=tf_keras, tfp_flows=tfp_flows)
  exec(compile(code, f"<example of {owner}>", "exec"), namespace)  # pylint: disable=exec-used
