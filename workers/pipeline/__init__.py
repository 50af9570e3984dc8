"""Pipeline analytics (sources 003, 004): forecast, win rate, cycle, velocity, stuck deals,
sizing. Pure; no Faust."""
