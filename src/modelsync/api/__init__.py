"""The HTTP API: a FastAPI app over the same services the CLI uses."""
