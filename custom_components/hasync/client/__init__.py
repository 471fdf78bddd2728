"""Async client for the HAsync server API (v1): no Home Assistant imports, no requirements."""
