"""DynamoDB backend: ``dynamodb://TABLE?endpoint_url=...&region=...``; see ``docs/dynamodb.md``."""
from .connection import Settings
from .store import CAPABILITIES, DynamoDBStore

__all__ = ["CAPABILITIES", "DynamoDBStore", "Settings"]
