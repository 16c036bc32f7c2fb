"""Accounts: registration, login, profiles, admin review and the bootstrap admin."""
