"""segmint — customer segmentation engine.

Example:
    >>> import segmint
    >>> segmint.__version__
    '0.1.0'
"""

from segmint.errors import SegmintError
from segmint.workspace import Workspace

__version__ = "0.1.0"
__all__ = ["SegmintError", "Workspace", "__version__"]
