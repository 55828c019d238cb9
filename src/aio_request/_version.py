"""The package version, read by hatchling and re-exported as ``aio_request.__version__``."""

__version__ = "0.3.0"
