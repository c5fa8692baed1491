"""Peer-to-peer: signed envelopes over HTTP between validators, gossip of consensus messages
and transactions, and block sync for a node that is behind."""
