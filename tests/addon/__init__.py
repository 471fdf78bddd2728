"""Tests of the app (add-on) packaging: static checks, run.sh, checkpoint and scripts/verify-addon."""
