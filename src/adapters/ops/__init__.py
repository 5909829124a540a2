"""Running the bot for months: metrics, probes, error tracking, data that expires."""
