"""Defaults of the ranking commands, in a module that imports nothing (the CLI starts fast)."""

#: Replicates of the bootstrap unless asked otherwise.
DEFAULT_REPLICATES = 2000
#: Seed of the bootstrap unless asked otherwise (reproducible by default).
DEFAULT_SEED = 0
#: Worst patches and confused pairs listed unless asked otherwise (``--errors``).
DEFAULT_ERRORS = 20
#: Fewest bootstrap replicates accepted: with fewer, the 2.5-97.5 percentile interval can
#: exclude the exact value itself.
MIN_REPLICATES = 100
