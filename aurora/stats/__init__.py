"""The statistics the page and the API show: their values (`model`), their one public shape (`json_form`,
written in `json_shape`'s terms), the service that keeps them fresh, how they are combined from the
database and the bot, and the hour breakdowns."""
