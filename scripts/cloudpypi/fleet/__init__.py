"""Sync fleet: one coordinator and any number of workers that share a mirror's work through SQS.

- ``queues``: the fleet's three queues (work, its dead letters, results), created idempotently.
- ``messages``: what travels on them, encoded and checked (a message is untrusted input).
"""
