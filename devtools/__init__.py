"""Drive the real HAsync server and a real Home Assistant: shared by scripts/develop and tests/e2e."""
