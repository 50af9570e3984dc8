"""Lead routing: eligibility, strategies, queues, service levels. Pure; no Faust or Kafka."""
