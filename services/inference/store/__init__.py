"""All of inference's SQL, one module per resource: chat sessions and messages, the settlement
outbox. (Stored answers live in the kernel's idempotency table, written through zerog_db.Once.)"""
