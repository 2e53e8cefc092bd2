"""Sphinx configuration for the sk_geodesic documentation.

Builds offline (no intersphinx, no example execution, built-in theme)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

# Importing the package imports torch; keep the build light on shared machines.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - the package itself needs torch
    pass

import sk_geodesic  # noqa: E402

# -- Project -----------------------------------------------------------------
project = "sk_geodesic"
author = "the sk_geodesic developers"
copyright = "the sk_geodesic developers, BSD-3-Clause"
version = release = sk_geodesic.__version__

# -- General -----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

templates_path = ["_templates"]
# bench_results.rst / lso_results.rst are fragments pulled in by ``.. include::``
# from benchmarks.rst / clustering.rst, not stand-alone pages.
exclude_patterns = [
    "_build",
    "README.md",
    "bench_results.rst",
    "lso_results.rst",
    "*.md",
    "generated/*.inc",
]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
nitpicky = False
default_role = "py:obj"

autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # types are documented in the numpydoc sections

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# No suppress_warnings: every warning is an error and should be fixed at its source.

# -- HTML --------------------------------------------------------------------
html_theme = "alabaster"
html_theme_options = {
    "description": "Geodesics in the latent spaces of generative models",
    "fixed_sidebar": True,
    "page_width": "1100px",
}
html_static_path = []
html_show_sourcelink = False


# -- Examples listing (generated, no execution) ------------------------------
def _safe_rst(text):
    """Return ``text`` unchanged if it is clean reStructuredText, else escaped.

    A script docstring with, say, an unbalanced ``*`` must not fail the ``-W`` build.
    """
    import re

    from docutils import nodes
    from docutils.core import publish_doctree

    doctree = publish_doctree(
        text, settings_overrides={"report_level": 5, "halt_level": 5, "warning_stream": False}
    )
    if not any(m["level"] >= 2 for m in doctree.findall(nodes.system_message)):
        return text
    return re.sub(r"([\\`*_|])", r"\\\1", text)


def _write_examples_listing(app):
    """Write ``generated/examples.inc``: one section per script in ``examples/``.

    Each section shows the first paragraph of the script's module docstring and the
    script itself (``literalinclude``); nothing is executed.
    """
    import ast

    scripts = sorted((ROOT / "examples").glob("*.py"))
    out = HERE / "generated"
    out.mkdir(exist_ok=True)
    lines = []
    if not scripts:
        lines += ["*No example scripts yet.*", ""]
    for script in scripts:
        try:
            doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
        except SyntaxError:
            doc = ""
        paras = [p for p in doc.strip().split("\n\n") if p.strip()]
        title = f"``{script.name}``"
        lines += [title, "-" * len(title), ""]
        if paras:
            lines += [_safe_rst(" ".join(paras[0].split())), ""]
        lines += [
            f"Run with ``python examples/{script.name}``.",
            "",
            f".. literalinclude:: /../examples/{script.name}",
            "   :language: python",
            "",
        ]
    text = "\n".join(lines)
    target = out / "examples.inc"
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


# -- Inherited members: document only those defined in sk_geodesic ------------
def _defining_module(obj):
    for cand in (obj, getattr(obj, "fget", None), getattr(obj, "__func__", None)):
        mod = getattr(cand, "__module__", None)
        if isinstance(mod, str):
            return mod
    return None


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Skip class members inherited from scikit-learn, Torch, etc.

    Their docstrings cross-reference labels of *their* documentation (e.g.
    ``:ref:`metadata_routing```), which cannot resolve offline without
    intersphinx; they are documented upstream. Members defined in sk_geodesic,
    including ones a class inherits from a package base class, are kept.
    """
    if what != "class" or skip:
        return None
    mod = _defining_module(obj)
    if mod is not None and not mod.startswith("sk_geodesic"):
        return True
    return None


def setup(app):
    app.connect("builder-inited", _write_examples_listing)
    app.connect("autodoc-skip-member", _skip_foreign_members)
