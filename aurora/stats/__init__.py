"""The statistics the page and the API show: their one shape (`model`), the service that keeps them fresh,
how they are assembled from the database and the bot, and the hour breakdowns."""
