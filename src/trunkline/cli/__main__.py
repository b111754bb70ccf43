"""`python -m trunkline.cli`: the same command line as the `trunkline` script."""

from trunkline.cli import app

app()
