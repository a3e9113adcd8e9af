"""Lab results as data: HL7 v2 and FHIR R4 reports read into values, ranges and flags, matched to
their patient, published as items of kind `result`, drawn as trends (see docs/results.md)."""
