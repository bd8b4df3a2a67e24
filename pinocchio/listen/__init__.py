"""The listening pipeline: audio in, whisper, segmentation, lexicon and classifier detection,
evidence clips, and the one `Pipeline` that batch scans and live feeds both run.
May import `core` and `store`; never the moderation side, which it reaches through the
`core.ledger.Ledger` it is handed."""
