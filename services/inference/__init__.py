"""The inference service: OpenAI-compatible chat over 0G Compute, routing, sessions, insights."""
