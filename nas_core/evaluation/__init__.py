"""From-scratch evaluation of a found architecture: protocols, networks, the training loop."""

from nas_core.evaluation.protocol import PROTOCOL_DEFAULTS, PROTOCOL_SPACE, EvalDataset, EvalSpec
from nas_core.evaluation.reporter import EvalEpochRecord, EvalInfo, EvalReporter, NullEvalReporter

__all__ = [
    "PROTOCOL_DEFAULTS",
    "PROTOCOL_SPACE",
    "EvalDataset",
    "EvalEpochRecord",
    "EvalInfo",
    "EvalReporter",
    "EvalSpec",
    "NullEvalReporter",
]
