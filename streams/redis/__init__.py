"""Redis adapters: the client, the execution ledger, rate limits, and the guards built on both."""
