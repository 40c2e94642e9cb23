"""How the main scores move with each choice of the pairing: 1-1 rule, direction, filters, tokens."""
