"""`import tfp_flows`: light at once, the whole API on first use."""

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
