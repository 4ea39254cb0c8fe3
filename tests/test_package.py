"""`import tfp_flows`: light at once, the whole API on first use."""

import ast
import os
import pkgutil
import subprocess
import sys

import pytest

import tfp_flows


def test_import_loads_no_tensorflow():
  code = ("import sys, tfp_flows; "
          "print(tfp_flows.__version__, sorted(m for m in sys.modules "
          "if m.split('.')[0] in ('tensorflow', 'tf_keras', 'numpy')))")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, timeout=60, check=True)
  assert proc.stdout.split() == [tfp_flows.__version__, "[]"]


def test_every_public_name_resolves():
  for name in tfp_flows.__all__:
    assert getattr(tfp_flows, name) is not None, name
  assert set(tfp_flows.__all__) <= set(dir(tfp_flows))
  # pylint: disable=g-import-not-at-top,import-outside-toplevel
  from tfp_flows import FlowModel, sample
  from tfp_flows import training, applications
  assert FlowModel is training.FlowModel
  assert sample is applications.sample
  assert callable(tfp_flows.flows.glow)
  assert callable(tfp_flows.flows.registry.build)


def test_every_submodule_is_reachable_as_an_attribute():
  # As when `import tfp_flows` imported them all: tfp_flows.training etc.
  names = {m.name for m in pkgutil.iter_modules(tfp_flows.__path__)}
  assert names == tfp_flows._SUBMODULES  # pylint: disable=protected-access
  for name in names:
    assert getattr(tfp_flows, name).__name__ == f"tfp_flows.{name}"


def test_unknown_name_is_an_attribute_error():
  with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
    tfp_flows.no_such_name  # pylint: disable=pointless-statement
  assert not hasattr(tfp_flows, "glow")  # flows.glow is not top-level


# The model layers (bijectors, networks, builders and the dequantizers they
# build) sit below training, export and the CLI, and never import them.
_MODEL_LAYERS = {"bijectors", "nets", "flows", "dequantization"}
_BELOW_TRAINING = _MODEL_LAYERS | {"context", "tfp_internal"}


def _imported_submodules(path):
  """The tfp_flows submodules (first component) that a source file imports."""
  found = set()
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.ImportFrom) and node.module and (
        node.module.split(".")[0] == "tfp_flows"):
      parts = node.module.split(".")
      found |= ({a.name for a in node.names} if len(parts) == 1 else
                {parts[1]})
    elif isinstance(node, ast.Import):
      found |= {a.name.split(".")[1] for a in node.names
                if a.name.startswith("tfp_flows.")}
  return found


def test_model_layers_never_import_training_or_the_cli():
  root = os.path.dirname(tfp_flows.__file__)
  for layer in sorted(_MODEL_LAYERS):
    path = os.path.join(root, layer)
    files = ([os.path.join(path, f) for f in os.listdir(path)
              if f.endswith(".py")] if os.path.isdir(path) else [path + ".py"])
    assert files, layer
    for f in files:
      above = _imported_submodules(f) - _BELOW_TRAINING
      assert not above, f"{os.path.relpath(f, root)} imports {sorted(above)}"


# The model layers, bottom first: each imports only the ones before it (and
# itself), so no import runs upward and none forms a cycle.
_LAYER_ORDER = ("tfp_internal", "bijectors", "nets", "context", "flows",
                "dequantization")


def test_model_layers_import_only_the_layers_below_them():
  root = os.path.dirname(tfp_flows.__file__)
  for rank, layer in enumerate(_LAYER_ORDER):
    path = os.path.join(root, layer)
    files = ([os.path.join(path, f) for f in os.listdir(path)
              if f.endswith(".py")] if os.path.isdir(path) else [path + ".py"])
    for f in files:
      upward = _imported_submodules(f) - set(_LAYER_ORDER[:rank + 1])
      assert not upward, (
          f"{os.path.relpath(f, root)} ({layer}) imports {sorted(upward)}")
