"""Every database key the node writes besides py-evm's own, in one place.

py-evm's ChainDB keeps headers, blocks, receipts and state under its SchemaV1 keys (`v1:`
prefixes) and trie nodes under their 32-byte hashes. Every key here starts with `cl:` and none
is 32 bytes long, so the two never collide. Changing any of these changes the on-disk format.
"""

from __future__ import annotations

# A final block's finality certificate, by block hash.
CERTIFICATE = b"cl:cert:"
# The logs of one block, each one RLP record, behind a table of their offsets so that one log
# decodes without the others (the log index's values live here).
LOG_TABLE = b"cl:logt:"
# The same as one RLP list: how blocks were stored before the table; read, never written.
LOG_RECORD = b"cl:logs:"
# Log index entries, empty values: address or (topic slot, topic), then block and position.
LOGS_BY_ADDRESS = b"cl:la:"
LOGS_BY_TOPIC = b"cl:lt:"
# The consensus journal: the validator's durable round state, and equivocation evidence.
CONSENSUS_STATE = b"cl:qbft:state"
EVIDENCE = b"cl:qbft:evidence:"


def block_number_key(number: int) -> bytes:
    """Big-endian, so that LevelDB's byte order is block order."""
    return number.to_bytes(8, "big")


def log_position(block_number: int, log_index: int) -> bytes:
    return block_number_key(block_number) + log_index.to_bytes(4, "big")


def certificate_key(block_hash: bytes) -> bytes:
    return CERTIFICATE + block_hash


def log_table_key(block_number: int) -> bytes:
    return LOG_TABLE + block_number_key(block_number)


def log_record_key(block_number: int) -> bytes:
    return LOG_RECORD + block_number_key(block_number)


def address_index_key(address: bytes, block_number: int, log_index: int) -> bytes:
    return LOGS_BY_ADDRESS + address + log_position(block_number, log_index)


def topic_index_key(slot: int, topic: bytes, block_number: int, log_index: int) -> bytes:
    return LOGS_BY_TOPIC + bytes([slot]) + topic + log_position(block_number, log_index)


def evidence_key(height: int, round_: int, kind: int, sender: bytes) -> bytes:
    return EVIDENCE + height.to_bytes(8, "big") + round_.to_bytes(4, "big") + bytes([kind]) + sender
