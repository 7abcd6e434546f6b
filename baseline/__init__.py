"""The FLAIR #1 reference model: U-Net/ResNet34 training, prediction and the end-to-end demo.

Needs the ``baseline`` extra (torch and segmentation-models-pytorch). Importing this package
alone imports neither, so the command line can say how to install them instead of failing with a
traceback; the modules (:mod:`baseline.train`, :mod:`baseline.predict`, :mod:`baseline.demo`...)
import torch at the top.
"""

from __future__ import annotations

import importlib

from scoring.errors import MissingDependencyError

#: Import names of the libraries the baseline needs, with their distribution names.
REQUIRED = (("torch", "torch"), ("segmentation_models_pytorch", "segmentation-models-pytorch"))


def require_dependencies() -> None:
    """Check that torch and segmentation-models-pytorch can be imported.

    Raises:
        MissingDependencyError: naming the missing library and the install command.
    """
    for module, distribution in REQUIRED:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingDependencyError(
                f"the baseline needs {distribution}, which cannot be imported ({exc}); install it "
                'with: pip install "flair-kit[baseline]"'
            ) from None
