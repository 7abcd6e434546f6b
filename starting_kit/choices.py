"""The kit's one definition of each choice shared by discovery, toy data, bundles and the CLI.

Choices are ``Literal`` types: a type checker sees the allowed values, the command line offers
exactly them (typer turns a ``Literal`` into a choice), and the value passed around is a plain
string, as in configuration files.
"""

from __future__ import annotations

from typing import Literal, get_args

#: The challenges: FLAIR #1 (aerial) and FLAIR #2 (aerial + Sentinel-2 time series).
Dataset = Literal["flair1", "flair2"]
#: Every :data:`Dataset`, in order.
DATASETS: tuple[Dataset, ...] = get_args(Dataset)
