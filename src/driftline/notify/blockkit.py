"""The Slack message of a notification, in Block Kit, within Slack's limits.

Layout: a header (status, severity, rule and model), then per alert a section with the
summary and value vs threshold, a section of label fields, buttons to the runbook and the
dashboard, and a divider; a context line closes it. ``text`` is the fallback shown in
notifications and by clients without blocks.

Every piece of alert text is escaped as Slack asks (``&`` ``<`` ``>`` become ``&amp;``
``&lt;`` ``&gt;``), so that a model or feature called ``<!channel>`` or ``<@U123>``
mentions nobody and cannot make a link. Links are buttons whose URL is checked to be a
plain http(s) URL; alert text is never put into link syntax.

>>> escape("<!channel> & <@U1>")
'&lt;!channel&gt; &amp; &lt;@U1&gt;'
"""

from __future__ import annotations

from typing import Any

from driftline.alerting.group import Notification
from driftline.alerting.model import AlertRecord
from driftline.notify import render

MAX_BLOCKS = 50
MAX_ALERTS = 11  # 4 blocks an alert + header + 2 context blocks stay within MAX_BLOCKS
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_TEXT = 3000  # the fallback text; Slack's limit is 40,000
ICON = {"firing": ":red_circle:", "resolved": ":large_green_circle:"}

Block = dict[str, Any]


def escape(text: str) -> str:
    """Escape untrusted text for Slack: ``&``, ``<`` and ``>`` as HTML entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(notification: Notification, max_alerts: int = 10) -> dict[str, Any]:
    """``{"text": fallback, "blocks": [...]}`` for chat.postMessage or an incoming webhook."""
    max_alerts = max(1, min(max_alerts, MAX_ALERTS))
    alerts = [*notification.firing, *notification.resolved]
    blocks: list[Block] = [header(notification)]
    for index, alert in enumerate(alerts[:max_alerts]):
        blocks.extend(alert_blocks(alert, index))
    if len(alerts) > max_alerts:
        blocks.append(_context(f"… and {len(alerts) - max_alerts} more alert(s) not shown"))
    firing, resolved = len(notification.firing), len(notification.resolved)
    blocks.append(_context(f"driftline · {firing} firing, {resolved} resolved · receiver {notification.receiver}"))
    return {"text": fallback_text(notification), "blocks": blocks[:MAX_BLOCKS]}


def header(notification: Notification) -> Block:
    word = f"FIRING:{len(notification.firing)}" if notification.firing else "RESOLVED"
    severity = render.top_severity(notification).value.upper()
    text = " ".join([word, severity, *render.headline(notification)])
    return {"type": "header", "text": _plain(render.one_line(text), MAX_HEADER)}


def alert_blocks(alert: AlertRecord, index: int) -> list[Block]:
    """Summary and value, labels, link buttons, divider: at most four blocks."""
    status = alert.status.value
    lines = [f"{ICON[status]} *{escape(render.one_line(alert.summary))}*"]
    facts = [f"severity `{alert.severity.value}`", escape(render.value_line(alert)),
             f"since {escape(render.one_line(alert.starts_at))}"]
    if alert.ends_at:
        facts.append(f"resolved {escape(render.one_line(alert.ends_at))}")
    lines.append(" · ".join(f for f in facts if f))
    if alert.description:
        lines.append(escape(alert.description))
    blocks: list[Block] = [{"type": "section", "text": _mrkdwn(render.truncate("\n".join(lines), MAX_SECTION))}]
    fields = label_fields(alert)
    if fields:
        blocks.append({"type": "section", "fields": fields})
    buttons = [
        {"type": "button", "action_id": f"{label.lower()}-{index}", "text": _plain(label), "url": url}
        for label, url in render.links(alert)
    ]
    if buttons:
        blocks.append({"type": "actions", "block_id": f"links-{index}", "elements": buttons})
    blocks.append({"type": "divider"})
    return blocks


def label_fields(alert: AlertRecord) -> list[Block]:
    """One field a label, at most ten: the rest share the last field."""
    items = [f"*{escape(k)}*\n{escape(render.one_line(v))}" for k, v in render.sorted_labels(alert)]
    if len(items) > MAX_FIELDS:
        items = items[: MAX_FIELDS - 1] + ["\n".join(items[MAX_FIELDS - 1:])]
    return [_mrkdwn(render.truncate(item, MAX_FIELD)) for item in items]


def fallback_text(notification: Notification) -> str:
    lines = [escape(render.title(notification))]
    lines.extend(f"• {escape(render.one_line(a.summary))}" for a in notification.alerts)
    return render.truncate("\n".join(lines), MAX_TEXT)


def _plain(text: str, limit: int = 75) -> Block:
    return {"type": "plain_text", "text": render.truncate(escape(text), limit), "emoji": True}


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(escape(text))]}
