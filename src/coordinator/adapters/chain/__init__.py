"""Chain source adapters (Esplora over HTTP)."""
