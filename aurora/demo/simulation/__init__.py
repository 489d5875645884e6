"""A simulated Discord for the demo: a REST + gateway server on loopback that the real discord.py
client logs in to (`server`, with its `rest` and `gateway` halves and the `payloads` they speak),
a director that keeps it lively on the injected clock's daily rhythm (`director`), and the wiring
that starts both beside the real bot when demo data is shown without a token (`demo_bot`)."""
