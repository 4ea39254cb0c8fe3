"""Helpers shared by test modules (not a test module itself)."""

from tfp_flows import nets


def bijectors_of_type(dist, kind):
  """The bijectors of type `kind` in a flow, data side first."""
  found = []

  def visit(b):
    if isinstance(b, kind):
      found.append(b)
    for child in getattr(b, "bijectors", []):
      visit(child)
    for attr in ("bijector", "inner"):
      if hasattr(b, attr):
        visit(getattr(b, attr))

  visit(dist.bijector)
  return found


def made_calls(monkeypatch):
  """The list that fills with the layer name of every MADE call from now on."""
  calls = []
  call = nets.MADE.call

  def counted(self, x, conditional_input=None):
    calls.append(self.name)
    return call(self, x, conditional_input=conditional_input)

  monkeypatch.setattr(nets.MADE, "call", counted)
  return calls
