"""Flow builders: each returns a `tfd.TransformedDistribution`."""

from tfp_flows.flows import registry
from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf
from tfp_flows.flows.bnaf import bnaf
from tfp_flows.flows.chain import chain
from tfp_flows.flows.coupling_flow import coupling_flow
from tfp_flows.flows.ffjord import ffjord
from tfp_flows.flows.flowpp import flowpp
from tfp_flows.flows.glow import glow
from tfp_flows.flows.naf import naf
from tfp_flows.flows.nice import nice
from tfp_flows.flows.nsf import nsf
from tfp_flows.flows.planar import planar
from tfp_flows.flows.priors import standard_prior
from tfp_flows.flows.radial import radial
from tfp_flows.flows.realnvp import realnvp
from tfp_flows.flows.residual_flow import multiscale_residual_flow
from tfp_flows.flows.residual_flow import residual_flow
from tfp_flows.flows.sylvester import sylvester

__all__ = [
    "bnaf", "chain", "coupling_flow", "ffjord", "flowpp", "glow", "iaf", "maf",
    "multiscale_residual_flow", "naf", "nice", "nsf", "planar", "radial", "realnvp", "registry", "residual_flow", "standard_prior",
    "sylvester"
]
