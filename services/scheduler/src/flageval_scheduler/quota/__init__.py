"""The quota ledger (SPEC §2 "Quota"): monthly formal runs, human evaluations in total."""
