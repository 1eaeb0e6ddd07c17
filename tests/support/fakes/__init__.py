"""Fakes at the network edge: real servers on loopback that speak the services' protocols.

============  ==============================================================================
module        what it holds
============  ==============================================================================
``server``    ``FakeServer`` (aiohttp on 127.0.0.1, records requests, scripted faults), ``poll``
``slack``     ``FakeSlack``: Web API ``chat.postMessage`` and incoming webhooks
``pagerduty`` ``FakePagerDuty``: Events API v2 over TLS
``webhook``   ``FakeWebhookReceiver``: records bodies and headers, checks the HMAC signature
``smtp``      ``SmtpServer``: aiosmtpd's Controller with optional STARTTLS and AUTH
``tls``       ``ThrowawayCA``: a trustme CA and a certificate for 127.0.0.1
============  ==============================================================================

Each records what it received and offers ``async wait_for(n, timeout)``, which polls
against a deadline; nothing sleeps to wait. Each has an outage switch: ``await
fake.outage(status)`` (an SMTP reply for ``SmtpServer``) answers everything with it, ``await
fake.outage()`` refuses connections, and ``await fake.recover()`` ends either.
"""
