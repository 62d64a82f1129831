"""Headway: a Kubernetes workflow engine that recovers failed work without redoing finished work."""

__version__ = "0.1.0"
