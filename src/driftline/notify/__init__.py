"""The notification pipeline (DESIGN.md §4, after Alertmanager's ``notify`` package).

A :class:`~driftline.alerting.group.Notification` from the dispatcher runs through the
stages of its receiver, ``SendResolvedStage ► DedupStage ► RetryStage(channel) ►
RecordStage``, and a channel delivers it. Imports: of driftline only
``driftline.alerting`` (models), ``driftline.config`` (``Secret``) and ``driftline.error``.
See docs/notifications.md.

==================  =========================================================================
module              what it holds
==================  =========================================================================
``stage``           ``NotifyContext``, the ``Stage`` protocol, ``MultiStage``, ``FanoutStage``,
                    ``RoutingStage``
``resolved``        ``SendResolvedStage``
``dedup``           ``DedupStage`` and ``needs_update`` (Alertmanager's dedup logic)
``retry``           ``RetryStage`` and ``RetryPolicy``
``record``          ``RecordStage``
``nflog``           ``LogEntry``, the ``NotificationLog`` protocol, ``InMemoryNotificationLog``
``pipeline``        ``NotificationPipeline``, ``build_channel``, ``DEFAULT_FACTORIES``
``outbox``          ``Outbox``: one queue and delivery task per receiver, order kept, outages waited out
``channel``         the ``Channel`` protocol, the HTTP status rule, ``Retry-After``
``email``           ``EmailNotifier``, ``EmailSettings`` (aiosmtplib)
``slack``           ``SlackNotifier``, ``SlackSettings`` (slack-sdk)
``blockkit``        the Slack message and mrkdwn escaping
``pagerduty``       ``PagerDutyNotifier``, ``PagerDutySettings`` (pagerduty's Events API v2 client)
``webhook``         ``WebhookNotifier``, ``WebhookSettings``, the HMAC signature
``synthetic``       ``send_test``: a test notification for ``driftline alerts test``
``render``          titles, value lines and safe links shared by the channels
``settings``        receiver settings into typed structs, errors naming receiver and key
``redact``          ``Redactor``: secrets out of errors and log lines
==================  =========================================================================
"""
