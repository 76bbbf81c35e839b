"""``python -m validation`` runs the radval CLI."""

from validation.cli import run

run()
