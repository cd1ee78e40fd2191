"""Acting on alerts from a chat: the actions (actions.py), the Slack app (slack.py), Socket Mode."""
