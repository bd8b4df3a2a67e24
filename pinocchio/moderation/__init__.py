"""The human side of moderation: the ledger (the one writer of the event log), the pure
transitions that project it, reports, cases, the penalty ladder, penalties, appeals, reviewers and
the audit of the chain. May import `store` and `core`; nothing of the listening side."""
