"""Drift of a model's features, prediction and score against a reference (see docs/drift.md).

The facade is :class:`~driftline.estimators.drift.model.ModelDrift` (one per model
version), built from a :class:`~driftline.estimators.reference.Reference` and
:class:`~driftline.estimators.drift.model.DriftOptions`. Per column it runs a
:class:`~driftline.estimators.drift.column.ColumnDrift`:

- window statistics (``numeric``, ``categorical``, ``window``, ``distance``);
- calibrated CUSUMs (``rank``, ``bucket``, ``shrink`` on ``cusum``, thresholds from
  ``calibration``) on codes shared through ``encoder``;
- optionally river's detectors (``adapter``);

and :class:`~driftline.estimators.drift.multivariate.PCADrift` over the numeric features.

Names reported (metric label values):

- statistics: ``psi``, ``js``, ``hellinger``, ``psi_decayed``, ``js_decayed``,
  ``hellinger_decayed``, ``missing_rate``; numeric: ``ks``, ``wasserstein``,
  ``out_of_range_rate``; categorical: ``chi2``, ``new_category_rate``; multivariate:
  ``reconstruction_error``;
- detectors (their statistic over its threshold is reported under the same name):
  ``cusum_up``, ``cusum_down``, ``cusum_scale_up``, ``cusum_scale_down``, ``cusum_bin``,
  ``cusum_category``, ``cusum_category_down``, ``cusum_missing``, ``cusum_pca``; river's
  ``adwin``, ``page_hinkley``, ``kswin``; a fixed limit is named after its statistic.
"""

from driftline.estimators.drift.column import ColumnDrift
from driftline.estimators.drift.model import DriftOptions, ModelDrift, weighted_drift_score
from driftline.estimators.drift.multivariate import PCADrift

__all__ = ["ColumnDrift", "DriftOptions", "ModelDrift", "PCADrift", "weighted_drift_score"]
