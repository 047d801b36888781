__version__ = "vendored by the function"
