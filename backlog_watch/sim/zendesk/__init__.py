"""The Zendesk Support simulator: ``simulator`` holds the backlog and its behaviour, ``api`` serves it
over HTTP with Zendesk's semantics, ``serve`` runs it until cancelled."""

from backlog_watch.sim.zendesk.api import decode_cursor, encode_cursor
from backlog_watch.sim.zendesk.serve import evolve_forever, serve_zendesk
from backlog_watch.sim.zendesk.simulator import ZendeskSimulator

__all__ = ["ZendeskSimulator", "decode_cursor", "encode_cursor", "evolve_forever", "serve_zendesk"]
