"""The competition lifecycle: derived states, the transition table, terms, tickets, entries,
payouts and the error policy. Pure code, no I/O."""
