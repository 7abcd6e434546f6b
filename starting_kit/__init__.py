"""flair-kit's participant side: the command line, submissions, toy data and competition bundles."""

__version__ = "0.1.0"
