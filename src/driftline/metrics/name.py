"""Metric names of the contract (DESIGN.md §2); docs/metrics.md describes each one.

Base units only (seconds, ratios 0..1); counters end in ``_total``; labels carry no
free text, and their cardinality is bounded by ``monitoring.*`` limits.
"""

PREFIX = "driftline_"

EVENTS = "driftline_events"  # counter: driftline_events_total{model_id,model_version,kind}
EVENTS_INVALID = "driftline_events_invalid"  # counter: driftline_events_invalid_total{reason}
EVENT_LAG_SECONDS = "driftline_event_lag_seconds"  # gauge {model_id}
LAST_EVENT_TIMESTAMP_SECONDS = "driftline_last_event_timestamp_seconds"  # gauge {model_id,model_version}
BATCH_SECONDS = "driftline_batch_seconds"  # histogram
BATCH_EVENTS = "driftline_batch_events"  # histogram
MODELS_MONITORED = "driftline_models_monitored"  # gauge
FEATURE_MISSING_RATIO = "driftline_feature_missing_ratio"  # gauge {model_id,model_version,feature}
FEATURE_MEAN = "driftline_feature_mean"  # gauge {model_id,model_version,feature}
FEATURE_STDDEV = "driftline_feature_stddev"  # gauge {model_id,model_version,feature}
FEATURES_UNTRACKED = "driftline_features_untracked_values"  # counter {model_id,model_version}
DEADLETTER_WRITTEN = "driftline_deadletter_written"  # counter {topic}
ALERTS_FIRING = "driftline_alerts_firing"  # gauge {rule,severity,model_id}
NOTIFICATIONS = "driftline_notifications"  # counter: driftline_notifications_total{channel,outcome}
LABEL_DELAY_SECONDS = "driftline_label_delay_seconds"  # histogram
LABELS_JOINED = "driftline_labels_joined"  # counter {model_id}
LABELS_UNMATCHED = "driftline_labels_unmatched"  # counter {model_id,side}: predictions or labels that expired unjoined
LABELS_EVICTED = "driftline_labels_evicted"  # counter {model_id,side}
LABELS_DUPLICATE = "driftline_labels_duplicate"  # counter {model_id,side}
LABELS_PENDING = "driftline_labels_pending"  # gauge {model_id,side}
MODEL_PERFORMANCE = "driftline_model_performance"  # gauge {model_id,model_version,metric}
ESTIMATED_PERFORMANCE = "driftline_estimated_performance"  # gauge {model_id,model_version,metric}
PERFORMANCE_ESTIMATE_ERROR = "driftline_performance_estimate_error"  # gauge {model_id,model_version,metric}
SEGMENT_PERFORMANCE = "driftline_segment_performance"  # gauge {model_id,model_version,segment,metric}
SEGMENT_ESTIMATED_PERFORMANCE = "driftline_segment_estimated_performance"  # gauge {model_id,model_version,segment,metric}
SEGMENT_WINDOW_EVENTS = "driftline_segment_window_events"  # gauge {model_id,model_version,segment}
DRIFT_DETECTED = "driftline_drift_detected"  # gauge {model_id,model_version,feature,detector}
FEATURE_DRIFT = "driftline_feature_drift"  # gauge {model_id,model_version,feature,method}
PREDICTION_DRIFT = "driftline_prediction_drift"  # gauge {model_id,model_version,method}
MULTIVARIATE_DRIFT = "driftline_multivariate_drift"  # gauge {model_id,model_version,method}
DRIFT_SCORE = "driftline_drift_score"  # gauge {model_id,model_version}
DRIFT_PHASE = "driftline_drift_phase"  # gauge {model_id,model_version,phase}: 1 for the current phase
RECORDS_SKIPPED = "driftline_records_skipped"  # counter {reason}: replayed, not_owned
CHECKPOINTS = "driftline_checkpoints"  # counter: driftline_checkpoints_total
CHECKPOINT_SECONDS = "driftline_checkpoint_seconds"  # histogram
RESTORES = "driftline_restores"  # counter: driftline_restores_total
