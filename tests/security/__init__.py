"""Security tests: the attack corpus, Wycheproof conformance, fuzzing and log hygiene."""
