"""The documentation: every page reachable, every public module referenced.

`make docs` (a CI step) builds the site with `mkdocs build --strict`, which
fails on broken links and unreadable docstrings; these checks need no docs
tools and keep a new page or module from being left out of it.
"""

import os
import re

import tfp_flows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")

# Modules with no public API of their own: the CLI (documented on its page),
# TFP internals, the file helpers of the CLI and export.
_NOT_IN_REFERENCE = {"cli", "tfp_internal", "files"}


def _nav_pages():
  with open(os.path.join(ROOT, "mkdocs.yml")) as f:
    return re.findall(r"^\s*- (?:[^:\n]+: )?(\S+\.md)\s*$", f.read(), re.M)


def _pages():
  found = []
  for folder, _, files in os.walk(DOCS):
    found += [os.path.relpath(os.path.join(folder, f), DOCS)
              for f in files if f.endswith(".md")]
  return found


def test_every_page_is_in_the_navigation_and_exists():
  nav = _nav_pages()
  assert len(nav) == len(set(nav))
  assert sorted(nav) == sorted(_pages())


def test_every_public_module_is_in_the_api_reference():
  referenced = set()
  for page in _pages():
    if page.startswith("api" + os.sep):
      with open(os.path.join(DOCS, page)) as f:
        referenced |= set(re.findall(r"^::: tfp_flows\.(\w+)", f.read(),
                                     re.M))
  modules = tfp_flows._SUBMODULES - _NOT_IN_REFERENCE  # pylint: disable=protected-access
  assert modules - referenced == set()
  assert referenced <= tfp_flows._SUBMODULES  # pylint: disable=protected-access


def test_readme_links_to_pages_that_exist():
  with open(os.path.join(ROOT, "README.md")) as f:
    links = re.findall(r"\]\((docs/[^)#]+)", f.read())
  assert len(links) >= 10, links
  for link in links:
    assert os.path.exists(os.path.join(ROOT, link)), link


def test_readme_stays_a_front_door_that_names_the_public_api():
  with open(os.path.join(ROOT, "README.md")) as f:
    readme = f.read()
  assert len(readme.splitlines()) <= 200
  api = readme[readme.index("## API"):]
  with open(os.path.join(DOCS, "api", "index.md")) as f:
    overview = f.read()
  for name in tfp_flows.__all__:
    assert f"`{name}`" in api, name
    assert re.search(rf"tfp_flows\.{name}\b|`{name}`", overview), name


# Public pieces that implement no paper's idea: composition and plumbing.
_NO_PAPER = {"Unflatten", "MLP", "chain"}


def _cited_objects():
  # pylint: disable=g-import-not-at-top
  import inspect
  from tfp_flows import bijectors, dequantization, nets, neutra, vi
  from tfp_flows.flows import registry
  objects = dict(registry.BUILDERS)
  for module in (bijectors, nets):
    objects.update({name: getattr(module, name) for name in module.__all__
                    if inspect.isclass(getattr(module, name))})
  objects.update(UniformDequantizer=dequantization.UniformDequantizer,
                 VariationalDequantizer=dequantization.VariationalDequantizer,
                 VariationalFlowModel=vi.VariationalFlowModel,
                 neutra_sample=neutra.sample)
  return {name: obj for name, obj in objects.items() if name not in _NO_PAPER}


def test_every_flow_piece_cites_its_paper():
  # A "References:" section (rendered by the API reference) whose entries
  # carry a year and an arXiv id or a journal.
  for name, obj in _cited_objects().items():
    doc = obj.__doc__ or ""
    assert re.search(r"^\s*References:\s*$", doc, re.M), name
    references = doc.split("References:")[1]
    assert re.search(r"\(\d{4}\)\.", references), name
    assert re.search(r"arXiv:\d{4}\.\d{4,5}|\d+\(\d\)", references), name
