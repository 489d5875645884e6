"""The statistics the page and the API show: their one shape (`model`), the service that keeps them fresh,
how they are combined from the database and the bot, and the hour breakdowns."""
