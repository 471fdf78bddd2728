"""Tests for the HAsync repository."""
