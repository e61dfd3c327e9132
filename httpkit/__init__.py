"""The project's shared HTTP plumbing: renderers, parsers, negotiation, paging, errors, OpenAPI,
route converters, health probes and the PostgreSQL backend tweak."""
