"""Alerting, the pure domain: rules, their evaluation and the alert state machine, routing,
grouping, inhibition and silences. No network code (DESIGN.md §3); the notifier in
:mod:`driftline.notify` and the wiring in :mod:`driftline.app` sit on top.

==================  =========================================================================
module              what it holds
==================  =========================================================================
``model``           the alert record of the contract, ``Severity``, ``Status``, ``fingerprint``
``sample``          ``Sample``, the evaluator's input, and the catalog of value names
``rule``            a rule's YAML shape and the checked ``Rule``
``ruleset``         ``RuleSet``: all rule files of ``alert-rules/``
``condition``       what each condition measures and when it fires
``state``           one alert instance's state machine (inactive, pending, firing)
``evaluator``       ``AlertEvaluator``: snapshots in, firing/resolved records out
``template``        safe ``{field}`` templates of annotations
``matcher``         Alertmanager label matchers
``route``           the routing tree
``receiver``        receivers: name, channel type, pass-through settings
``routing``         ``RoutingConfig``: ``routing.yaml`` (route, receivers, inhibit rules)
``group``           aggregation groups and their timing, ``Notification``
``dispatch``        ``Dispatcher``: records into groups, due notifications out
``inhibit``         ``Inhibitor``
``silence``         ``Silence`` records and the ``SilenceSet``
``duration``        ``30s``, ``5m``, ``500 events``
``keypath``         errors that name the file and the dotted key
==================  =========================================================================
"""
