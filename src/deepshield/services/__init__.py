"""Use cases composing the rooms: hash, bank, match, keys. The doors call only these."""
