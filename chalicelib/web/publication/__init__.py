"""Pages for documents, uploads and quarantined uploads."""
