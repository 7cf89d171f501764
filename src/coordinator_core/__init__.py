"""Types, errors and validation shared by the coordinator, the DLC library and the devnet."""
