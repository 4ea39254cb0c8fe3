"""Flow builders: each returns a `tfd.TransformedDistribution`."""

from tfp_flows.flows.nice import nice
from tfp_flows.flows.priors import standard_prior

__all__ = ["nice", "standard_prior"]
