"""Component IDs: one place, so layouts, callbacks and browser tests agree."""

REFRESH_INTERVAL = "refresh-interval"
# Fed by assets/live.js from the live stream: the id of the stats event the page was sent.
LIVE_STATS = "live-stats"
# The stream event id of the stats the page shows: a stream event for them is not rendered again.
RENDERED_STATS = "rendered-stats"
# Whether the server has room for this page's live stream now, true or false (written at every
# refresh; live.js opens a stream only then and polls meanwhile).
LIVE_STATS_READY = "live-stats-ready"
# What the page's scripts (assets/) take from the server: ids, the stream's address, timings, labels.
PAGE_SETTINGS = "page-settings"
STATUS_BANNER = "status-banner"
ALERTS = "alerts"
DEMO_BADGE = "demo-badge"
SIMULATED_BADGE = "simulated-badge"
BOT_STATUS = "bot-status"
UPDATED_AT = "updated-at"
KPI_GRID = "kpi-grid"
KPI_SERVERS = "kpi-servers"
KPI_USERS = "kpi-users"
KPI_COMMANDS = "kpi-commands"
KPI_PING = "kpi-ping"
ACTIVITY_CHART = "activity-chart"
RECENT_EVENTS = "recent-events"
TOP_COMMANDS = "top-commands"
SHARDS = "shards"
DOWNLOAD_CSV = "download-csv"


def kpi_value(card_id: str) -> str:
    return f"{card_id}-value"


def kpi_change(card_id: str) -> str:
    return f"{card_id}-change"


# The interactive day: the selected hour lives in the address (#hour=...), its panel below the chart.
URL = "url"
ACTIVITY_ZONE = "activity-zone"
ACTIVITY_TABLE = "activity-table"
TABLE_TOGGLE = "table-toggle"
HOUR_PANEL = "hour-panel"
HOUR_PANEL_CLOSE = "hour-panel-close"
HOUR_PANEL_TITLE = "hour-panel-title"
HOUR_PANEL_BODY = "hour-panel-body"
GLANCE = "glance"
# The viewer's time zone: the choice (UTC or local, kept in the browser) and the browser's zone.
ZONE_CHOICE = "zone-choice"
ZONE_TOGGLE = "zone-toggle"
BROWSER_ZONE = "browser-zone"
ZONE_NOTE = "zone-note"

# Bot health: the per-command table (sorted by the chosen column), its 24-h line, the gateway line.
BOT_HEALTH = "bot-health"
BOT_HEALTH_SORT = "bot-health-sort"
BOT_HEALTH_TABLE = "bot-health-table"
BOT_HEALTH_CHART = "bot-health-chart"
BOT_HEALTH_SUMMARY = "bot-health-summary"
BOT_HEALTH_SINCE = "bot-health-since"
