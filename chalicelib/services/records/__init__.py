"""Take-away records: the export job and the zip's FHIR bundle and index page."""
