"""cityledger.cli"""
