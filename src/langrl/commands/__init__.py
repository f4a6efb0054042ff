"""CLI subcommands: each module parses its typed config and calls into the library."""
