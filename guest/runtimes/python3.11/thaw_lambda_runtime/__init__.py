"""thaw's Python runtime interface client: runs a `module.function` handler against the
Lambda Runtime API (2018-06-01), the way AWS Lambda's Python runtime does."""
