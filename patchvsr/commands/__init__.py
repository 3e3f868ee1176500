"""Sub-commands of `python -m patchvsr`; see `patchvsr/cli.py`."""
