"""cityledger.sdk"""
