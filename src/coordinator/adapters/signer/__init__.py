"""The signing-gateway adapter: a keymeld 0.10 client implementing the ``Signer`` port."""
