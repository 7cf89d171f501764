"""Curve arithmetic, BIP-340 Schnorr signatures, MuSig2 with adaptor signatures."""
