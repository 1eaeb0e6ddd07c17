"""driftline: streaming model monitoring on Kafka."""

__version__ = "0.1.0"
