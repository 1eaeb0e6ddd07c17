"""Model quality in the stream: realized metrics, CBPE estimates, error-stream drift detectors.

:class:`~driftline.estimators.performance.quality.ModelQuality` is the facade the Monitor
uses, one per model version, and one per segment of it
(:class:`~driftline.estimators.performance.segment.SegmentedQuality`); ``docs/quality.md``
describes names and semantics.
"""

from driftline.estimators.performance.calibration import HistogramCalibration
from driftline.estimators.performance.cbpe import PerformanceEstimate, expected_metrics
from driftline.estimators.performance.compare import Comparison, mean_difference_test, two_proportion_test
from driftline.estimators.performance.detector import DEFAULT_DETECTORS, DETECTORS, ErrorDetector
from driftline.estimators.performance.quality import JOINED_DTYPE, JoinedRow, ModelQuality, joined_rows
from driftline.estimators.performance.realized import RealizedMetrics
from driftline.estimators.performance.segment import OTHER_SEGMENT, SegmentedQuality, segment_label, segment_values
from driftline.estimators.performance.task import (BINARY, ESTIMATED_METRICS, MULTICLASS, REALIZED_METRICS,
                                                   REGRESSION, Encoder, infer_task)

__all__ = [
    "BINARY", "DEFAULT_DETECTORS", "DETECTORS", "ESTIMATED_METRICS", "JOINED_DTYPE", "MULTICLASS", "OTHER_SEGMENT",
    "REALIZED_METRICS", "REGRESSION",
    "Comparison", "Encoder", "ErrorDetector", "HistogramCalibration", "JoinedRow", "ModelQuality",
    "PerformanceEstimate", "RealizedMetrics", "SegmentedQuality", "expected_metrics", "infer_task", "joined_rows",
    "mean_difference_test", "segment_label", "segment_values", "two_proportion_test",
]
