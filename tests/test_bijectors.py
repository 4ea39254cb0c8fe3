"""Every public bijector class runs the harness somewhere in the tests.

`tfp_flows.bijectors.__all__` is enumerated, as `registry.BUILDERS` is for
flows, so a new bijector cannot skip `testing.check_bijector`: some test
file must call it with a bijector of that class (built in the call's
arguments, or in a function of the same file that they call). Each module's
own test runs it with that module's seeded weights, inputs and tolerances.
"""

import ast
import inspect
import pathlib
import sys

import tensorflow_probability as tfp

from tfp_flows import bijectors

TESTS = pathlib.Path(__file__).parent

def _public_classes():
  return {name: getattr(bijectors, name) for name in bijectors.__all__
          if inspect.isclass(getattr(bijectors, name))}


def _names_in(node):
  return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
      n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def _classes_under_the_harness():
  """Names of classes built in the arguments of some `check_bijector` call."""
  found = set()
  for path in sorted(TESTS.glob("test_*.py")):
    tree = ast.parse(path.read_text())
    functions = {node.name: node for node in ast.walk(tree)
                 if isinstance(node, ast.FunctionDef)}
    for call in ast.walk(tree):
      if not (isinstance(call, ast.Call) and "check_bijector" in _names_in(
          call.func)):
        continue
      names, todo = set(), list(call.args) + [k.value for k in call.keywords]
      seen = set()
      while todo:
        here = _names_in(todo.pop())
        names |= here
        # Follow the file's helper functions that the arguments call.
        for name in here & set(functions) - seen:
          seen.add(name)
          todo.append(functions[name])
      found |= names
  return found


def test_every_public_bijector_class_runs_the_harness():
  classes = _public_classes()
  assert all(issubclass(c, tfp.bijectors.Bijector) for c in classes.values())
  missing = sorted(set(classes) - _classes_under_the_harness())
  assert not missing, (
      f"public bijectors that no test runs testing.check_bijector on: "
      f"{missing}")


def test_the_check_finds_a_class_without_a_harness(tmp_path, monkeypatch):
  """The scan is not vacuous: a test file whose harness call builds another
  class does not count for the class it names only elsewhere."""
  (tmp_path / "test_fake.py").write_text(
      "def make(dtype):\n  return Planar(2)\n\n"
      "def test_a():\n  testing.check_bijector(make, [2])\n\n"
      "def test_b():\n  Radial(2).forward(x)\n")
  monkeypatch.setattr(sys.modules[__name__], "TESTS", tmp_path)
  found = _classes_under_the_harness()
  assert "Planar" in found and "Radial" not in found
