"""cityledger.testnet"""
