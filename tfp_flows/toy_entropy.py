"""True densities and entropies of the 2-D toys of `tfp_flows.data.toy`.

The entropy H = -E[log p(x)] (nats) of a toy is the lowest expected test NLL
any model can reach, so NLL - H is how far a trained flow is from the data.
`TOY_ENTROPY` holds the values this module computes, rounded to 3 decimals;
`tests/test_toy_entropy.py` recomputes each and checks it against `toy`'s
samples. How each is computed (deterministic quadrature of the exact density
of the sampler in the limit of many samples; each error below 1e-4 nats,
checked by halving the step and against the mean of -log p over samples of
`tfp_flows.data.toy`):

* checkerboard: uniform on 8 squares of side 2, H = log 32 exactly.
* 8gaussians: an equal mixture of 8 Gaussians (std 0.5 / 1.414) on the
  circle of radius 4 / 1.414; H = -sum p log p on a 2-D grid.
* rings, circles: equal mixtures of circles (radii 0.75, 1.5, 2.25, 3; and
  3, 1.5) convolved with an isotropic Gaussian (std 0.08, 0.24): the density
  is radial, (1 / 2 pi s^2) exp(-(rho^2 + r^2) / 2 s^2) I0(rho r / s^2) per
  circle, and H a 1-D integral over rho.
* moons: two half circles (make_moons' arcs, t uniform on [0, pi]), scaled
  by 2, convolved with a Gaussian of std 0.2: the density by quadrature over
  t, H on a 2-D grid.
* 2spirals: t = 3 pi sqrt(U) on the arc, a uniform square of side 1/6 and a
  Gaussian of std 0.1 (closed form with erf per axis), half the mass
  reflected through the origin: density by quadrature over t, H on a grid.
* pinwheel: each of 5 arms is a Gaussian r ~ N((1, 0), diag(0.3, 0.1)^2)
  mapped by x = 2 R(0.25 exp(r_0)) r (R a rotation): |x| = 2 |r|,
  angle(x) = angle(r) + 0.25 exp(r_0), |det| = 4 |1 - 0.25 exp(r_0) r_1|.
  Beyond |r| = 1.8 a point can have several preimages, and the arms overlap
  near the origin, so each arm's density at x sums over every root of the
  1-D angle equation (a scan, then bisection); H = -E_{arm 0}[log p(x)] (the
  arms are rotations of each other) by quadrature over r.

The figures this package quoted before computing them (moons 2.394,
8gaussians 2.836, checkerboard 3.466, 2spirals 2.652, rings 2.626, circles
3.269, pinwheel 2.304; their source was not recorded) agree with these to
0.007 nats, except pinwheel's (0.014 below).
"""

import math

import numpy as np
from scipy import special

__all__ = ["TOY_ENTROPY", "entropy", "log_density"]

# Nats, rounded to 3 decimals (see the module docstring).
TOY_ENTROPY = {
    "moons": 2.394,
    "8gaussians": 2.832,
    "checkerboard": 3.466,
    "2spirals": 2.645,
    "rings": 2.623,
    "circles": 3.268,
    "pinwheel": 2.318,
}


def _grid(limit, step):
  axis = np.arange(-limit, limit + step / 2, step)
  xx, yy = np.meshgrid(axis, axis, indexing="ij")
  return np.stack([xx.ravel(), yy.ravel()], -1)


def _grid_entropy(density, limit, step):
  """-sum p log p dA and sum p dA on a square grid of `step` in [-limit, limit]^2."""
  x = _grid(limit, step)
  p = np.concatenate([density(chunk) for chunk in np.array_split(
      x, max(1, len(x) // 20000))])
  positive = p > 0
  h = -np.sum(p[positive] * np.log(p[positive])) * step**2
  return h, np.sum(p) * step**2


def _gauss2(d2, var):
  return np.exp(-d2 / (2. * var)) / (2. * math.pi * var)


# --- the densities (NumPy, x of shape [n, 2]) -------------------------------


def _p_8gaussians(x):
  s = 1. / math.sqrt(2.)
  centres = 4. * np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s),
                           (-s, s), (-s, -s)]) / 1.414
  var = (0.5 / 1.414)**2
  d2 = np.sum((x[:, None] - centres[None])**2, -1)
  return np.mean(_gauss2(d2, var), 1)


def _p_moons(x, num_t=300):
  t = (np.arange(num_t) + 0.5) * math.pi / num_t  # midpoints of [0, pi]
  outer = np.stack([np.cos(t), np.sin(t)], -1)
  inner = np.stack([1. - np.cos(t), 1. - np.sin(t) - 0.5], -1)
  points = 2. * np.concatenate([outer, inner]) + np.array([-1., -0.2])
  d2 = np.sum((x[:, None] - points[None])**2, -1)
  return np.mean(_gauss2(d2, 0.2**2), 1)


def _p_spiral_arm(x, num_t=600):
  # x = (arc(t) + 0.5 u) / 3 + 0.1 eps: the box [0, 1/6]^2 convolved with the
  # Gaussian is a product of erf differences.
  t_max = 3. * math.pi
  t = (np.arange(num_t) + 0.5) * t_max / num_t
  weight = 2. * t / t_max**2 * (t_max / num_t)  # density of t = 3 pi sqrt(U)
  arc = np.stack([-np.cos(t) * t, np.sin(t) * t], -1) / 3.
  width, sigma = 1. / 6., 0.1
  d = (x[:, None] - arc[None]) / (sigma * math.sqrt(2.))
  box = 0.5 * (special.erf(d) - special.erf(d - width / (sigma * math.sqrt(2.))))
  return np.sum(np.prod(box / width, -1) * weight, 1)


def _p_2spirals(x):
  return 0.5 * (_p_spiral_arm(x) + _p_spiral_arm(-x))


def _radial(rho, radii, sigma):
  """Density in the plane, at distance rho from the origin, of an equal
  mixture of circles of `radii` blurred by a Gaussian of std `sigma`."""
  rho = np.asarray(rho, np.float64)[..., None]
  r = np.asarray(radii, np.float64)
  var = sigma**2
  # I0(z) exp(-z) = i0e(z): stable for large z.
  log_p = (-(rho - r)**2 / (2. * var) + np.log(special.i0e(rho * r / var)) -
           np.log(2. * math.pi * var))
  return np.mean(np.exp(log_p), -1)


_RINGS = ((0.75, 1.5, 2.25, 3.), 0.08)
_CIRCLES = ((3., 1.5), 0.24)


def _p_checkerboard(x):
  x1, x2 = x[:, 0] / 2., x[:, 1] / 2.
  inside = (np.abs(x1) < 2.) & (np.abs(x2) < 2.)
  black = (np.floor(x1) + np.floor(x2)) % 2 == 0
  return np.where(inside & black, 1. / 32., 0.)


_PIN_ARMS, _PIN_STD, _PIN_RATE = 5, np.array([0.3, 0.1]), 0.25


def _pinwheel_r_density(r):
  """Density of one arm's r ~ N((1, 0), diag(0.3, 0.1)^2) over the
  map's |det| = 4 (1 - 0.25 exp(r_0) r_1): the arm's density at x(r)."""
  z = (r - np.array([1., 0.])) / _PIN_STD
  log_n = (-0.5 * np.sum(z**2, -1) - math.log(2. * math.pi) -
           np.sum(np.log(_PIN_STD)))
  det = 1. - _PIN_RATE * np.exp(r[..., 0]) * r[..., 1]
  return np.exp(log_n) / np.abs(det) / 4.


def _pinwheel_arm0(y, scan=96, roots=4):
  """Density of arm 0 (angle offset 0) at points y [n, 2] of the data scale.

  Sums over every preimage: on the circle |r| = |y| / 2 the angle map
  beta -> beta + 0.25 exp(rho cos beta) is not monotone for rho > 1.8, so
  a point can have several (the far ones carry next to no mass).
  """
  y = y / 2.
  rho = np.hypot(y[:, 0], y[:, 1])[:, None]
  alpha = np.arctan2(y[:, 1], y[:, 0])[:, None]
  # beta + 0.25 exp(rho cos beta) = alpha (mod 2 pi): the left side minus beta
  # lies in [0.25 exp(-rho), 0.25 exp(rho)], so every root modulo 2 pi has a
  # representative in [lo, hi]. Scan it for sign changes, then bisect each.
  lo = alpha - _PIN_RATE * np.exp(rho)
  hi = alpha - _PIN_RATE * np.exp(-rho)
  f = lambda b: b + _PIN_RATE * np.exp(rho * np.cos(b)) - alpha  # pylint: disable=unnecessary-lambda-assignment
  grid = lo + (hi - lo) * np.linspace(0., 1., scan)[None]
  sign = f(grid) > 0
  change = sign[:, 1:] != sign[:, :-1]
  # Up to `roots` intervals with a sign change per point (their indices).
  order = np.argsort(~change, axis=1, kind="stable")[:, :roots]
  valid = np.take_along_axis(change, order, 1)
  a = np.take_along_axis(grid, order, 1)
  b = np.take_along_axis(grid, order + 1, 1)
  rising = np.take_along_axis(sign, order + 1, 1)
  for _ in range(50):
    mid = 0.5 * (a + b)
    up = (f(mid) > 0) == rising
    b = np.where(up, mid, b)
    a = np.where(up, a, mid)
  beta = 0.5 * (a + b)
  r = np.stack([rho * np.cos(beta), rho * np.sin(beta)], -1)
  return np.sum(np.where(valid, _pinwheel_r_density(r), 0.), 1)


def _rotate(y, angle):
  c, s = math.cos(angle), math.sin(angle)
  return np.stack([c * y[:, 0] - s * y[:, 1], s * y[:, 0] + c * y[:, 1]], -1)


def _p_pinwheel(x):
  return np.mean([_pinwheel_arm0(_rotate(x, -2. * math.pi * k / _PIN_ARMS))
                  for k in range(_PIN_ARMS)], 0)


_DENSITIES = {
    "8gaussians": _p_8gaussians,
    "moons": _p_moons,
    "2spirals": _p_2spirals,
    "rings": lambda x: _radial(np.hypot(x[:, 0], x[:, 1]), *_RINGS),
    "circles": lambda x: _radial(np.hypot(x[:, 0], x[:, 1]), *_CIRCLES),
    "checkerboard": _p_checkerboard,
    "pinwheel": _p_pinwheel,
}


def log_density(name, x):
  """log p(x) of toy `name` (the sampler's limit density) at x [n, 2]."""
  with np.errstate(divide="ignore"):
    return np.log(_DENSITIES[name](np.asarray(x, np.float64)))


def _radial_entropy(radii, sigma, step):
  # Density in the plane q(rho) / (2 pi rho), q the density of the radius.
  # H = -integral of p log p over the plane = -int p log p 2 pi rho d rho.
  rho = np.arange(step / 2, max(radii) + 12. * sigma, step)
  p = _radial(rho, radii, sigma)
  ring = 2. * math.pi * rho * step
  return -np.sum(ring * p * np.log(p)), np.sum(ring * p)


def _pinwheel_entropy(step):
  # H = -E_{arm 0}[log p(x)]: midpoint quadrature over r in +-9 std.
  r0 = np.arange(-9., 9., step) * _PIN_STD[0] + 1.
  r1 = np.arange(-9., 9., step) * _PIN_STD[1]
  a, b = np.meshgrid(r0, r1, indexing="ij")
  r = np.stack([a.ravel(), b.ravel()], -1)
  z = (r - np.array([1., 0.])) / _PIN_STD
  weight = np.exp(-0.5 * np.sum(z**2, -1)) / (2. * math.pi) * step**2
  angle = _PIN_RATE * np.exp(r[:, 0])
  c, s = np.cos(angle), np.sin(angle)
  x = 2. * np.stack([r[:, 0] * c - r[:, 1] * s, r[:, 0] * s + r[:, 1] * c], -1)
  # Arm 0's own preimage r is known: a scan that missed it cannot lose it.
  own = np.maximum(_pinwheel_arm0(x), _pinwheel_r_density(r))
  others = sum(_pinwheel_arm0(_rotate(x, -2. * math.pi * k / _PIN_ARMS))
               for k in range(1, _PIN_ARMS))
  p = (own + others) / _PIN_ARMS
  return -np.sum(weight * np.log(p)), np.sum(weight)


def entropy(name, fine=False):
  """Entropy (nats) of toy `name` and the total mass its quadrature saw.

  Args:
    name: a toy of `tfp_flows.data.toy`.
    fine: halve every step (slower), to bound the quadrature error.

  Returns:
    (H, mass): mass should be 1 to within the quadrature's accuracy.
  """
  k = 0.5 if fine else 1.
  if name == "checkerboard":
    return math.log(32.), 1.
  if name == "rings":
    return _radial_entropy(*_RINGS, step=0.002 * k)
  if name == "circles":
    return _radial_entropy(*_CIRCLES, step=0.002 * k)
  if name == "pinwheel":
    return _pinwheel_entropy(0.1 * k)
  limits = {"8gaussians": 4.5, "moons": 4., "2spirals": 4.}
  steps = {"8gaussians": 0.03, "moons": 0.05, "2spirals": 0.05}
  if name not in limits:
    raise ValueError(f"Unknown toy {name!r}; known: {sorted(TOY_ENTROPY)}.")
  return _grid_entropy(_DENSITIES[name], limits[name], steps[name] * k)
