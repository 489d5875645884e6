"""The bot's database: its schema and engine, deadlines on calls, failures as one line, and `init-db`."""
