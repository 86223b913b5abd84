"""The package version, in one place that imports nothing (utils and the lessons read it)."""

__version__ = "0.2.0"
