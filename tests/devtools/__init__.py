"""Tests of the developer tooling (devtools/) with real server processes."""
