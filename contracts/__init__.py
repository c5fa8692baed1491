"""Solidity sources, their offline compile step, and the committed build artifacts."""
