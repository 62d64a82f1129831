"""The pure core: every decision as a function of spec, status, observed Jobs and ``now``.

Nothing here performs I/O or reads a clock; an import-linter contract keeps
kopf and kubernetes out.
"""
