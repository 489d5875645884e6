"""The page: component ids, layout, components, formatting and figures (pure, no SQL), the
refresh callback (thin: service -> components) and the guard of Dash's routes."""
