"""Pydantic models of Headway's resources; the CRDs under ``crds/`` are generated from them."""
