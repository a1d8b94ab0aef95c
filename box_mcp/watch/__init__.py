"""Watching Box for changes: the webhook receiver (`/box/webhooks`), `box-mcp webhooks ensure`, and the
events-API follower, each publishing `box_mcp.changes.Change`s on the deployment's `ChangeFeed`.

Nothing here trusts what Box sends beyond the ids in it: a webhook is believed only once its signature
checks out, and even then only its trigger, the item's type and id, and the parent's id (a hint) are kept.
"""
