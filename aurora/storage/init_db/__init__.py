"""`app.py init-db`: the schema and recommended indexes, built safely on a live database."""
