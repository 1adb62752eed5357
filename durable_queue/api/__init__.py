"""The HTTP layer: marshmallow schemas, request parsing, handlers and error rendering."""
