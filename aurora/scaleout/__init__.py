"""Several processes, one deployment: roles, the Redis link, shared snapshots and stats, the bot lease."""
