"""Email through a real SMTP server (aiosmtpd): STARTTLS and implicit TLS with AUTH, messages parsed
back with the stdlib; refusals retried by the outbox; quiet hours ending in one digest; escalation."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from backlog_watch.app import assemble
from backlog_watch.config.models import Config
from backlog_watch.delivery.notifiers.email import EmailNotifier
from backlog_watch.errors import NotifyError
from backlog_watch.sim import SimClock, ZendeskSimulator
from tests.helpers.alerts import URGENT_RULE, urgent_notification
from tests.helpers.config import email, email_config
from tests.smtp import Credentials, LocalCA, bodies, refusing_port, smtp_server


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
    text, html = bodies(message)
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
    with refusing_port() as reserved:  # bound, not listening: connections are refused, and it stays ours
        port = reserved.getsockname()[1]
        config = email_config(zendesk_sim, tmp_path / "bw.db", port)
        assert await once(config, sim_clock) == 1
        sim_clock.advance(60)
        with smtp_server(reserved) as (box, _):
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
        config = email_config(zendesk_sim, tmp_path / "bw.db", port, mail={"quiet_hours": "late-shift"})
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
    text, html = bodies(digest)
    assert "[WARN] backlog-size" in text and "[WARN] old-tickets" in text
    assert html.count('class="alert"') == 2


async def test_escalation_reaches_the_manager_after_the_configured_time_and_hears_it_resolved(
    zendesk_sim: ZendeskSimulator,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    with smtp_server() as (box, port), smtp_server() as (manager_box, manager_port):
        backlog = len(zendesk_sim.open_ids())
        config = email_config(
            zendesk_sim,
            tmp_path / "bw.db",
            port,
            notifiers=[email(manager_port, name="manager", to=["manager@acme.com"])],
            backlog={
                "critical_above": backlog - 3,
                "escalate": [{"after": "2h", "level": "critical", "notify": ["manager"]}],
            },
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
    assert "Escalated: firing for more than 2h" in bodies(escalated)[0]
    assert [m["Subject"].split(" ")[0] for m in manager_box.messages] == ["[CRITICAL]", "[RESOLVED]"]
    assert sum(1 for m in box.messages if "backlog-size" in m["Subject"]) == 2  # firing, resolved


def test_email_subject_uses_the_rule_template() -> None:
    from backlog_watch.delivery.notifiers.email import build_message
    from backlog_watch.templating import TemplateSettings

    rule = URGENT_RULE.model_copy(
        update={
            "template": TemplateSettings(
                title="{{ severity }} {{ alert.ticket_count }} urgent tickets waiting in {{ helpdesk }}",
                text="Oldest: #{{ tickets[0].id }} ({{ tickets[0].age }})",
            )
        }
    )
    message = build_message([replace(urgent_notification(), rule=rule)], sender="a@acme.com", to=["b@acme.com"])
    assert message["Subject"] == "CRITICAL 23 urgent tickets waiting in zendesk"
    assert "Oldest: #500 (1d 6h)" in bodies(message)[0]
