"""The scheduler service: digests, weekly summaries and performance alerts for each user."""
