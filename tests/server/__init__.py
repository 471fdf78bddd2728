"""Tests of the add-on's Node server as a real process: fuzzing, crash safety, auth abuse, no leaks."""
