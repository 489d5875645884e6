"""The embedded default: seeded demo data, its daily rhythm, and a simulated Discord the real bot logs in to."""
