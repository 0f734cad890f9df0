"""xunshi (巡视): an offline assistant over inspection work materials."""

__version__ = "0.1.0"
