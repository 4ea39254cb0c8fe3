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
