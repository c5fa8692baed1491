"""The errors the fingerprint package raises: each says what was wrong, for a person to read."""


class FingerprintError(Exception):
    """Base of every error cityledger.fingerprint raises on purpose."""


class SecretFileError(FingerprintError):
    """A dataset secret file that cannot be read or written, or a wrong passphrase."""


class MarkingError(FingerprintError):
    """Data that cannot be marked as given (a missing key column, a type the schema forbids)."""


class LeakFileError(FingerprintError):
    """A leaked file that cannot be read: unknown format, corrupt, or over a safety limit."""


class FindingRejected(FingerprintError):
    """A finding that does not verify: the reason is the message."""
