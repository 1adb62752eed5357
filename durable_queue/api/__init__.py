"""The HTTP layer: request schemas and validation, handlers, error table and rendering."""
