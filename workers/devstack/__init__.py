"""The local stack: the real Apache Kafka broker (KRaft) from Maven Central, and Redis.

Used by `dealstream dev up|down`, `make demo` and the test suite's session fixture.
"""

from workers.devstack.errors import DevStackError
from workers.devstack.kafka_broker import KafkaBroker
from workers.devstack.redis_server import RedisServer
from workers.devstack.stack import LocalStack

__all__ = ["DevStackError", "KafkaBroker", "LocalStack", "RedisServer"]
