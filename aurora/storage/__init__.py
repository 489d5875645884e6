"""The bot's database: its schema (`tables`) and engine (`engine`), deadlines on calls, failures as
one line, and `init-db`."""
