"""Synthetic 2-D densities as NumPy arrays (the FFJORD toy benchmarks)."""

from __future__ import annotations

import numpy as np

from tfp_flows.data._checks import _check_positive_int

__all__ = ["TOY_DATASETS", "toy"]

TOY_DATASETS = (
  "moons",
  "8gaussians",
  "checkerboard",
  "2spirals",
  "rings",
  "pinwheel",
  "circles",
)


def _toy_moons(n, rng):
  from sklearn.datasets import make_moons

  x = make_moons(n, noise=0.1, random_state=int(rng.integers(2**31)))[0]
  return x * 2.0 + np.array([-1.0, -0.2])


def _toy_circles(n, rng):
  from sklearn.datasets import make_circles

  random_state = int(rng.integers(2**31))
  x = make_circles(n, factor=0.5, noise=0.08, random_state=random_state)[0]
  return x * 3.0


def _toy_8gaussians(n, rng):
  s = 1.0 / np.sqrt(2.0)
  centers = 4.0 * np.array(
    [(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)]
  )
  x = centers[rng.integers(8, size=n)] + 0.5 * rng.standard_normal((n, 2))
  return x / 1.414


def _toy_checkerboard(n, rng):
  x1 = rng.uniform(-2.0, 2.0, size=n)
  # The offset floor(x1) mod 2 shifts every other column by one, turning two
  # stacked unit bands into a 4x4 checkerboard on [-4, 4]^2 after scaling.
  x2 = rng.uniform(size=n) - 2.0 * rng.integers(2, size=n) + np.floor(x1) % 2
  return 2.0 * np.stack([x1, x2], axis=1)


def _toy_2spirals(n, rng):
  # sqrt makes the density along the arc roughly uniform in the plane.
  t = np.sqrt(rng.uniform(size=n)) * 3.0 * np.pi
  x = np.stack([-np.cos(t) * t, np.sin(t) * t], axis=1)
  x = x + 0.5 * rng.uniform(size=(n, 2))
  x[n // 2 :] *= -1.0  # second spiral: point reflection of the first
  return x / 3.0 + 0.1 * rng.standard_normal((n, 2))


def _toy_rings(n, rng):
  radii = np.array([0.25, 0.5, 0.75, 1.0])
  counts = np.full(4, n // 4)
  counts[0] += n - counts.sum()
  circles = []
  for radius, count in zip(radii, counts):
    angle = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    circles.append(radius * np.stack([np.cos(angle), np.sin(angle)], axis=1))
  x = 3.0 * np.concatenate(circles)
  return rng.permutation(x) + 0.08 * rng.standard_normal((n, 2))


def _toy_pinwheel(n, rng):
  num_arms, radial_std, tangential_std, rate = 5, 0.3, 0.1, 0.25
  arm = np.arange(n) % num_arms
  r = rng.standard_normal((n, 2)) * np.array([radial_std, tangential_std])
  r[:, 0] += 1.0
  # The rotation grows with radius (exp of the radial coordinate), which
  # bends each Gaussian blob into a curved arm.
  angle = 2.0 * np.pi * arm / num_arms + rate * np.exp(r[:, 0])
  c, s = np.cos(angle), np.sin(angle)
  x = np.stack([r[:, 0] * c - r[:, 1] * s, r[:, 0] * s + r[:, 1] * c], axis=1)
  return 2.0 * rng.permutation(x)


_TOY_SAMPLERS = {
  "moons": _toy_moons,
  "8gaussians": _toy_8gaussians,
  "checkerboard": _toy_checkerboard,
  "2spirals": _toy_2spirals,
  "rings": _toy_rings,
  "pinwheel": _toy_pinwheel,
  "circles": _toy_circles,
}


def toy(name: str, n: int, seed: int = 0) -> np.ndarray:
  """Draws ``n`` samples from a synthetic 2-D density.

  Definitions follow the FFJORD toy benchmarks (data roughly in
  ``[-4, 4]^2``):

  * ``moons``: ``make_moons(n, noise=0.1) * 2 + [-1, -0.2]``;
  * ``8gaussians``: ``(c + 0.5 * eps) / 1.414`` with ``c`` one of 8 points
    on the circle of radius 4, ``eps ~ N(0, I)``;
  * ``checkerboard``: uniform on 8 alternating 2x2 squares of ``[-4, 4]^2``;
  * ``2spirals``: two interleaved spirals, ``t = 3*pi*sqrt(U)``,
    ``(-t cos t, t sin t) / 3`` plus noise, and its reflection;
  * ``rings``: 4 concentric circles of radii ``3 * {0.25, 0.5, 0.75, 1}``
    plus ``N(0, 0.08^2)`` noise;
  * ``pinwheel``: 5 curved arms (radial std 0.3, tangential std 0.1);
  * ``circles``: ``make_circles(n, factor=0.5, noise=0.08) * 3``.

  Args:
    name: One of ``TOY_DATASETS``.
    n: Number of samples (positive int).
    seed: Seed of the NumPy generator; same seed, same samples.

  Returns:
    float32 array of shape ``[n, 2]``.
  """
  if not isinstance(name, str) or name not in _TOY_SAMPLERS:
    raise ValueError(
      f"Unknown toy dataset {name!r}; known: {', '.join(TOY_DATASETS)}."
    )
  _check_positive_int("n", n)
  x = _TOY_SAMPLERS[name](int(n), np.random.default_rng(seed))
  return np.asarray(x, dtype=np.float32)
