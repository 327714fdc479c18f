"""
@file __main__.py
@brief ``python -m cotter`` runs the CLI.
"""
from .cli import main

raise SystemExit(main())
