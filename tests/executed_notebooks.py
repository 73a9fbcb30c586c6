"""Reading an executed notebook in tests: the glue keys it computed and the ones its prose uses."""

from __future__ import annotations

import re

import nbformat


def glued_names(nb: nbformat.NotebookNode) -> set[str]:
    """Names the notebook glued (myst_nb.glue writes them into its outputs' scrapbook metadata)."""
    return {o["metadata"]["scrapbook"]["name"] for c in nb.cells for o in c.get("outputs", [])
            if "scrapbook" in o.get("metadata", {})}


def prose_glue_keys(nb: nbformat.NotebookNode) -> set[str]:
    """Names the notebook's Markdown cells show with {glue:text}`name`."""
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return set(re.findall(r"\{glue:text\}`([^`]+)`", prose))
