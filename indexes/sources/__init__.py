"""A user's files as *sources*: detect the type, convert with Haystack's converters, split into chunks whose meta
cites the source, page and character offsets, and replace a source's chunks as a whole (docs/documents.md)."""
