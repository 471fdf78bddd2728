"""Async client for the HAsync server API (v1), with no Home Assistant imports.

It takes an aiohttp session (Home Assistant injects its shared one) and implements the contract
in addon/server/src/openapi.json: ``errors`` (what it raises), ``models`` (the status document),
``client`` (requests and the push listener) and ``sse`` (the event stream).
"""
