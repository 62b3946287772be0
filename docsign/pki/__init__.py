"""Public key infrastructure: certificate authorities (demo and test), key sources, trust store."""
