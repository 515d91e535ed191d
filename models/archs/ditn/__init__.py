"""DITN (Deployment-friendly Inception Transformer Network, the real-world form)."""
