"""Stand-ins the tests run the real parts against: Discord (REST and gateway) on loopback, a TCP
proxy that can cut or stall a connection, the production server in a subprocess, a recording sink."""
