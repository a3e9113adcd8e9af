"""Routes for documents, uploads and the patient's item list."""
