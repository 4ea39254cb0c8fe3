"""tfp_flows bijectors: `tfp.bijectors.Bijector` subclasses, one per module."""

from tfp_flows.bijectors import masks
from tfp_flows.bijectors.additive_coupling import AdditiveCoupling
from tfp_flows.bijectors.coupling import Coupling
from tfp_flows.bijectors.rescaling import Rescaling
from tfp_flows.bijectors.unflatten import Unflatten

__all__ = ["AdditiveCoupling", "Coupling", "Rescaling", "Unflatten", "masks"]
