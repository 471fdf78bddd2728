"""Fuzzing of the HAsync integration: documents, HTTP answers and event streams."""
