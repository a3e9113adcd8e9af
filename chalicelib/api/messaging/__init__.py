"""Routes for secure messages, the patient's side and the office's."""
