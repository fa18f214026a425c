"""notify: signed webhooks to the chat backend, sent from an outbox (the decision side enqueues)."""
