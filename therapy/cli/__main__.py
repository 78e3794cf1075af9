"""`python -m therapy.cli`, as the `therapy` command."""

from therapy.cli import main

main()
