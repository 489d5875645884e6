"""Page structure and presentational pieces. Imports `aurora.ids` and `aurora.models` only."""
