"""`python -m pinocchio` is the `pinocchio` command."""

from pinocchio.cli import app

app(prog_name="pinocchio")
