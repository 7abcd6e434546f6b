"""Entry file of the competition scoring program: ``python3 $program/score.py $input $output``.

In a bundle this file sits at the root of ``scoring_program.zip`` beside the ``scoring`` package;
in the repository it sits inside the package. Either way it puts the folder that holds the package
first on ``sys.path`` (and removes its own folder when that is the package itself, so the package's
modules never shadow anything), then runs :func:`scoring.program.main`.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.isdir(os.path.join(HERE, "scoring")):
    PACKAGE_PARENT = HERE
else:
    PACKAGE_PARENT = os.path.dirname(HERE)
    sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
sys.path.insert(0, PACKAGE_PARENT)

from scoring.program import main  # after the sys.path set-up above, which it needs

if __name__ == "__main__":
    sys.exit(main())
