"""cityledger.node"""
