"""`python -m dslforge` is the `dslforge` command."""

from dslforge.cli import main

main()
