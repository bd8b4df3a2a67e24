"""The live worker: feeds and their streams file, clocks across reconnects and restarts, the replay
guard, reminders to streamers, webhooks and metrics. May import `listen`, `facts` (each feed's
shop facts), `store` and `core`;
never the moderation side (its events go to the `core.ledger.Ledger` it is handed)."""
