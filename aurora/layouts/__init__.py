"""Page structure and presentational pieces. Imports `aurora.layouts.ids` and `aurora.models` only."""
