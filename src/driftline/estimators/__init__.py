"""Pure online estimators: no Kafka, no I/O, no clocks (DESIGN.md §1).

Every estimator follows one contract (:class:`driftline.estimators.base.Estimator`):
hyper-parameters are public attributes, state is private and built in ``_reset()``,
``update``/``update_batch`` return ``self``, and ``to_state()``/``from_state()``
round-trip the state exactly.
"""
