"""Subcommands of `dslforge`, one module per area. Heavy imports (torch) stay inside functions."""
