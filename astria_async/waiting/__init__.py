"""Waiting: policies, the board that coalesces every wait of a kind, and the fair-use guard.

Kept empty on purpose: `from astria_async import WaitPolicy` imports `waiting.policy` only,
without the board or asyncio machinery.
"""
