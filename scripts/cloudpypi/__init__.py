"""CloudPyPI: a PyPI mirror in your own folder or S3 bucket."""

__version__ = "0.1.0"
