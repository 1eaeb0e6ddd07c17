"""The email: Alertmanager's subject, headers that alert text cannot add to, escaped HTML, SMTP errors."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import aiosmtplib
import pytest

from driftline.alerting.model import Status
from driftline.alerting.receiver import Receiver
from driftline.error import PermanentNotifyError, RetryableNotifyError
from driftline.notify.email import EmailNotifier, build_message, smtp_error
from driftline.notify.redact import Redactor
from tests.unit.notify.support import alert, assert_error, context, notification

SETTINGS = {"to": ["ml-oncall@example.com", "Team <team@example.com>"], "from": "driftline@example.com",
            "host": "smtp.example.com"}
INJECTION = "amount\r\nBcc: attacker@evil.example\r\nX-Injected: yes"


def message(n) -> EmailMessage:
    notifier = EmailNotifier(Receiver("email", "email", settings=SETTINGS))
    built = build_message(notifier.settings, context(n), n)
    # what goes on the wire, parsed back as a mail client would
    return email.message_from_bytes(built.as_bytes(policy=email.policy.SMTP), policy=email.policy.default)


def test_subject_is_alertmanager_style():
    n = notification(firing=(alert("a"), alert("b")))
    assert message(n)["Subject"] == "[FIRING:2] feature_drift fraud-detector v7"
    resolved = notification(resolved=(alert("a", Status.RESOLVED),))
    assert message(resolved)["Subject"] == "[RESOLVED] feature_drift fraud-detector v7"


def test_crlf_in_labels_and_summaries_adds_no_header():
    bad = alert("a", rule=f"feature_drift{INJECTION}", summary=f"Drift{INJECTION}", labels={"feature": INJECTION})
    parsed = message(notification(firing=(bad,)))
    assert parsed["Bcc"] is None and parsed["X-Injected"] is None
    assert "Bcc: attacker@evil.example" in parsed["Subject"]  # it stayed in the subject, on one line
    assert "\n" not in parsed["Subject"] and "\r" not in parsed["Subject"]
    assert sorted(parsed.keys()) == sorted(["Subject", "From", "To", "Date", "Message-ID", "Auto-Submitted",
                                            "X-Driftline-Receiver", "MIME-Version", "Content-Type"])


def test_email_message_itself_refuses_crlf_in_headers():
    with pytest.raises(ValueError):
        EmailMessage()["Subject"] = "hello\r\nBcc: attacker@evil.example"


def test_bodies_hold_the_alert_and_html_is_escaped():
    evil = alert("a", summary="<script>alert(1)</script> & more", labels={"feature": "<b>amount</b>"},
                 runbook_url="javascript:alert(1)", dashboard_url='https://grafana.example.com/d/x?a=1&b="2"')
    parsed = message(notification(firing=(evil,)))
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "<script>alert(1)</script> & more" in text and "value 0.31 vs threshold 0.25" in text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "&lt;b&gt;amount&lt;/b&gt;" in html
    assert "javascript:" not in html and "javascript:" not in text  # unsafe links are left out
    assert "dashboard" not in text  # the dashboard URL has a quote in it: not linked either
    assert "severity warning" in html and "started 2026-11-23T10:04:12.000Z" in html


def test_runbook_links_are_included_when_safe():
    parsed = message(notification(firing=(alert("a"),)))
    html = parsed.get_body(("html",)).get_content()
    assert '<a href="https://runbooks.example.com/drift">Runbook</a>' in html
    assert "runbook: https://runbooks.example.com/drift" in parsed.get_body(("plain",)).get_content()


def test_recipients_and_sender():
    parsed = message(notification(firing=(alert("a"),)))
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ml-oncall@example.com", "team@example.com"]
    assert parsed["From"] == "driftline@example.com" and parsed["Auto-Submitted"] == "auto-generated"


WHERE = "receiver 'email' (email)"
REDACT = Redactor(["hunter2-password"])


@pytest.mark.parametrize("exc, cls, text", [
    (aiosmtplib.SMTPResponseException(451, "4.3.0 try again later"), RetryableNotifyError, "SMTP 451"),
    (aiosmtplib.SMTPResponseException(554, "5.7.1 rejected"), PermanentNotifyError, "SMTP 554"),
    (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 bad credentials hunter2-password"), PermanentNotifyError,
     "SMTP 535 5.7.8 bad credentials <redacted>"),
    (aiosmtplib.SMTPAuthenticationError(454, "4.7.0 temporary auth failure"), RetryableNotifyError, "SMTP 454"),
    (aiosmtplib.SMTPSenderRefused(550, "no such sender", "a@b.c"), PermanentNotifyError, "SMTP 550"),
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(450, "mailbox busy", "x@y.z")]),
     RetryableNotifyError, "x@y.z: 450 mailbox busy"),
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no such user", "x@y.z")]),
     PermanentNotifyError, "all recipients refused"),
    (aiosmtplib.SMTPConnectError("Error connecting to smtp.example.com on port 587"), RetryableNotifyError,
     "SMTPConnectError"),
    (aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"), RetryableNotifyError, "timed out"),
    (aiosmtplib.SMTPServerDisconnected("Unexpected EOF"), RetryableNotifyError, "Unexpected EOF"),
    (aiosmtplib.SMTPNotSupported("SMTP STARTTLS extension not supported by server."), PermanentNotifyError,
     "STARTTLS"),
    (ConnectionRefusedError(111, "Connection refused"), RetryableNotifyError, "ConnectionRefusedError"),
])
def test_smtp_errors_are_translated(exc, cls, text):
    error = smtp_error(WHERE, exc, REDACT)
    assert_error(error, cls)
    assert str(error).startswith(WHERE) and text in str(error)
    assert "hunter2-password" not in str(error)
