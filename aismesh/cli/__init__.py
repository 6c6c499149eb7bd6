"""The `ais` command line (console script `ais` -> aismesh.cli.main:run)."""
