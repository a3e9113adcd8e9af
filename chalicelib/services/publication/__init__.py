"""Publication: uploads become documents, corrections, the patient's documents and item list."""
