from . import (backbones, data_preprocessors, estimators, heads,  # noqa: F401
               losses, necks, streams, utils)
from .backbones import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .estimators import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .streams import *  # noqa: F401,F403
