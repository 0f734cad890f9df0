"""The errors xunshi raises, in one place.

They live in the bottom layer (``ingest``) so that every layer can raise them; only the CLI and
the UI turn them into exit codes or on-page messages.
"""


class XunshiError(Exception):
    """Base class: a problem the user can act on; the message says what to do."""


class ConfigError(XunshiError):
    """A setting is missing or invalid."""


class LoadError(XunshiError):
    """A file could not be read into text (empty, corrupt, encrypted, binary, unsupported)."""


class EmbeddingModelError(XunshiError):
    """The embedding model cannot be found or loaded."""


class StoreError(XunshiError):
    """The vector store cannot be opened or does not match the configured model."""


class UnknownDocumentError(XunshiError):
    """A document id that is not in the store."""


class UsageError(XunshiError):
    """The command was asked for something it cannot do as given (an empty question, -k 0, a home
    that does not exist, a store with nothing in it); the CLI exits 2."""


class EmptyStoreError(UsageError):
    """A reading command on a store where nothing has been ingested yet."""


class StoreBusyError(UsageError):
    """Another process is writing the embedded store (or, for a writer that has to wait, still
    reading it); the message names that process and the ways out. Nothing was changed."""
