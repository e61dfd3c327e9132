"""The project's shared HTTP plumbing: renderers, parsers, negotiation, paging, errors, OpenAPI,
route converters, health probes, request ids, logs and metrics, and the PostgreSQL backend tweak."""
