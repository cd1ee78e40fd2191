"""Email through a real SMTP server (aiosmtpd): STARTTLS and implicit TLS with AUTH, messages parsed
back with the stdlib; refusals retried by the outbox; quiet hours ending in one digest; escalation."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from backlog_watch.app import assemble
from backlog_watch.config.models import Config, parse_config
from backlog_watch.delivery.dedup import Notification, Reason
from backlog_watch.delivery.notifiers.email import EmailNotifier
from backlog_watch.errors import NotifyError
from backlog_watch.models import Alert, AlertState, Priority, Sla
from backlog_watch.rules.backlog import ThresholdRule
from backlog_watch.sim import SimClock, ZendeskSimulator
from tests.factories import NOW, ticket
from tests.smtp import Credentials, LocalCA, free_port, smtp_server

RULE = ThresholdRule(name="urgent-backlog", type="threshold", metric="open_tickets", critical_above=20)


def urgent_notification(count: int = 23) -> Notification:
    tickets = tuple(
        ticket(
            id=str(500 + i),
            subject=f"Refund <{i}> & more",
            priority=Priority.URGENT,
            age=timedelta(hours=30 - i),
            sla=Sla(first_response_due=NOW + timedelta(minutes=25)) if i == 0 else Sla(),
        )
        for i in range(count)
    )
    alert = Alert(
        fingerprint="f" * 16,
        rule="urgent-backlog",
        labels=(("helpdesk", "zendesk"),),
        state=AlertState.FIRING,
        level="critical",
        value=float(count),
        threshold=20,
        summary=f"open_tickets is {count} (critical above 20)",
        tickets=tickets,
        ticket_count=count,
        active_since=NOW,
        firing_since=NOW,
    )
    return Notification(alert, Reason.FIRING, RULE, NOW, data_as_of={"zendesk": NOW - timedelta(minutes=2)})


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


async def test_starttls_with_auth_sends_one_readable_multipart_email() -> None:
    ca = LocalCA()
    with smtp_server(starttls=ca.server_context(), credentials=Credentials("alerts", "s3cret")) as (box, port):
        notifier = EmailNotifier(
            "leads-email",
            host="localhost",
            port=port,
            sender="backlog-watch <alerts@acme.com>",
            to=["leads@acme.com", "boss@acme.com"],
            username="alerts",
            password=__import__("pydantic").SecretStr("s3cret"),
            tls_context=ca.client_context(),
        )
        await notifier.send(urgent_notification())
    (message,) = box.messages
    assert message["Subject"] == "[CRITICAL] urgent-backlog: 23 open (zendesk)"
    assert box.recipients == [["leads@acme.com", "boss@acme.com"]]
    assert message.is_multipart() and message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert "#500 Refund <0> & more" in text and "SLA due in 25m" not in text and "due in 25m" in text
    assert "... and 13 more" in text and "Data as of" in text
    assert "Refund &lt;0&gt; &amp; more" in html  # ticket subjects are escaped in HTML
    assert html.count("<tr") == 11  # header + 10 listed tickets
    assert 'href="https://acme.zendesk.com/agent/tickets/500"' in html


async def test_implicit_tls_and_a_refused_login_is_not_retryable_and_hides_the_password() -> None:
    ca = LocalCA()
    with smtp_server(implicit_tls=ca.server_context(), credentials=Credentials("alerts", "right")) as (box, port):
        notifier = EmailNotifier(
            "mail",
            host="localhost",
            port=port,
            sender="alerts@acme.com",
            to=["a@acme.com"],
            starttls=False,
            tls=True,
            username="alerts",
            password=__import__("pydantic").SecretStr("wrong-pw"),
            tls_context=ca.client_context(),
        )
        with pytest.raises(NotifyError) as caught:
            await notifier.send(urgent_notification())
    assert not caught.value.retryable and "wrong-pw" not in str(caught.value) and box.messages == []


def email_config(
    sim: ZendeskSimulator, db: Path, port: int, *, extra: str = "", notifier_extra: str = "", rule_extra: str = ""
) -> Config:
    text = f"""
store: sqlite:///{db}
business_hours:
  late-shift:
    timezone: UTC
    days: [mon, tue, wed, thu, fri]
    hours: "16:00-18:00"
helpdesks:
  - name: zendesk
    type: zendesk
    url: {sim.url}
    email: {sim.email}
    token: {sim.token}
notifiers:
  - name: mail
    type: email
    host: 127.0.0.1
    port: {port}
    starttls: false
    from: alerts@acme.com
    to: [leads@acme.com]
{notifier_extra}
defaults:
  notify: [mail]
  repeat_every: 1d
rules:
  - name: backlog-size
    type: threshold
    metric: open_tickets
    warn_above: 1
{rule_extra}
  - name: old-tickets
    type: aging
    older_than: 1h
{extra}
"""
    return parse_config(text, "email-test.yaml", env={})


async def once(config: Config, clock: SimClock) -> int:
    async with assemble(config, clock=clock.now) as built:
        code, _ = await built.daemon.once()
        return code


async def test_smtp_refusing_connections_is_retried_until_delivered_once(
    zendesk_sim: ZendeskSimulator,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    port = free_port()  # nothing listens there yet: connections are refused
    config = email_config(zendesk_sim, tmp_path / "bw.db", port)
    assert await once(config, sim_clock) == 1
    sim_clock.advance(60)
    with smtp_server(port) as (box, _):
        assert await once(config, sim_clock) == 0
        sim_clock.advance(60)
        assert await once(config, sim_clock) == 0
    assert sorted(m["Subject"].split(":")[0] for m in box.messages) == ["[WARN] backlog-size", "[WARN] old-tickets"]


async def test_quiet_hours_hold_then_one_digest_when_the_calendar_opens(
    zendesk_sim: ZendeskSimulator,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)  # Monday 14:32 UTC: the late shift starts at 16:00
    with smtp_server() as (box, port):
        config = email_config(zendesk_sim, tmp_path / "bw.db", port, notifier_extra="    quiet_hours: late-shift")
        assert await once(config, sim_clock) == 0
        assert box.messages == []  # held, not dropped
        sim_clock.advance(timedelta(minutes=30))
        assert await once(config, sim_clock) == 0
        assert box.messages == []
        sim_clock.advance(timedelta(hours=1))  # 16:02
        assert await once(config, sim_clock) == 0
        (digest,) = box.messages
        sim_clock.advance(60)
        assert await once(config, sim_clock) == 0
        assert len(box.messages) == 1
    assert digest["Subject"] == "[DIGEST] backlog-watch: 2 alert updates"
    text, html = parts(digest)
    assert "[WARN] backlog-size" in text and "[WARN] old-tickets" in text
    assert html.count('class="alert"') == 2


async def test_escalation_reaches_the_manager_after_the_configured_time_and_hears_it_resolved(
    zendesk_sim: ZendeskSimulator,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    with smtp_server() as (box, port), smtp_server() as (manager_box, manager_port):
        manager = (
            f"  - name: manager\n    type: email\n    host: 127.0.0.1\n    port: {manager_port}\n"
            "    starttls: false\n    from: alerts@acme.com\n    to: [manager@acme.com]"
        )
        backlog = len(zendesk_sim.open_ids())
        config = email_config(
            zendesk_sim,
            tmp_path / "bw.db",
            port,
            notifier_extra=manager,
            rule_extra=f"    critical_above: {backlog - 3}\n"
            "    escalate: [{after: 2h, level: critical, notify: [manager]}]",
        )
        assert await once(config, sim_clock) == 0
        sim_clock.advance(timedelta(minutes=90))
        assert await once(config, sim_clock) == 0
        assert manager_box.messages == []
        sim_clock.advance(timedelta(minutes=31))
        assert await once(config, sim_clock) == 0
        (escalated,) = manager_box.messages
        for ticket_id in sorted(zendesk_sim.open_ids()):  # the backlog cleared: every alert resolves
            zendesk_sim.solve_ticket(ticket_id)
        sim_clock.advance(120)
        assert await once(config, sim_clock) == 0
    assert escalated["Subject"].startswith("[CRITICAL] backlog-size:")
    assert "Escalated: firing for more than 2h" in parts(escalated)[0]
    assert [m["Subject"].split(" ")[0] for m in manager_box.messages] == ["[CRITICAL]", "[RESOLVED]"]
    assert sum(1 for m in box.messages if "backlog-size" in m["Subject"]) == 2  # firing, resolved


def test_email_subject_uses_the_rule_template() -> None:
    from backlog_watch.delivery.notifiers.email import build_message
    from backlog_watch.delivery.templating import TemplateSettings

    rule = RULE.model_copy(
        update={
            "template": TemplateSettings(
                title="{{ severity }} {{ alert.ticket_count }} urgent tickets waiting in {{ helpdesk }}",
                text="Oldest: #{{ tickets[0].id }} ({{ tickets[0].age }})",
            )
        }
    )
    message = build_message([replace(urgent_notification(), rule=rule)], sender="a@acme.com", to=["b@acme.com"])
    assert message["Subject"] == "CRITICAL 23 urgent tickets waiting in zendesk"
    assert "Oldest: #500 (1d 6h)" in parts(message)[0]
