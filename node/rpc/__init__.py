"""JSON-RPC: the HTTP server, error codes, value encoding, and the eth_* and cityledger_*
method sets."""
