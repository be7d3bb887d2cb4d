"""``python -m chromalab`` runs the command line."""

from chromalab.cli import main

main()
