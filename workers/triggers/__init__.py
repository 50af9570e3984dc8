"""Time-in-stage triggers: schedule math, opportunity state, due index. No Faust, no Kafka."""
